# Two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install, run the workflow on config/config.yaml
#   make test   create/update .venv, run the test suite
# Extra arguments for snakemake or pytest: make run ARGS="--configfile config/scenarios/puff.yaml"

VENV    := .venv
STAMP   := $(VENV)/.installed
PY      := $(VENV)/bin/python
CORES   ?= all
ARGS    ?=
# Rules call `python -m ...`: make the venv's interpreter the one on PATH for every job.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test report lint bench clean-results

$(STAMP): pyproject.toml
	@bash .ci/find-python.sh > /dev/null
	@test -x $(PY) || $$(bash .ci/find-python.sh) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

report: $(STAMP)
	$(VENV)/bin/snakemake --report results/report.html $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint

# The solver benchmark, then the training ones on the default dataset (made if missing): the
# network choice, DMD on the default (pointwise) network (and its settings, one at a time) and on
# the full-batch field network.
FIELD_SPEC := {"network": {"kind": "field", "width": 128, "depth": 2}, "optimizer": {"lr": 0.001, "batch_size": 0, "schedule": "constant"}, "eval_every": 1, "dmd": {"stride": 1, "window": 20, "moments": "reset", "apply": "at_once", "every": null, "max_climb": null, "restart": null, "patience": null}}
# The defaults before 2026-11-24 (lr 3e-2 on 4096-point batches for 6500 steps, the validation
# loss every 25 steps, no patience), on which every benchmark below the first training.py was
# measured, are pinned with `--base batch4096` (bench/training.py's BATCH4096) so that they
# repeat their runs; `--base fresh_windows` adds the defaults before sliding windows with a
# limited climb and restarts (fresh windows of 10, checks on 16384 pairs; FRESH_WINDOWS), and
# AT_ONCE the accelerator before spread jumps (apply: at_once, windows of 15).
OLD := --base batch4096
# The rest of a 1024-point cosine spec after its rate, as the batch-size benchmarks ran it.
B1024_SPEC := "batch_size": 1024, "schedule": "cosine"}, "eval_every": 100, "check_points": 8192, "dmd": {"patience": null}}
FRESH := --base fresh_windows
AT_ONCE := --base fresh_windows --spec '{"dmd": {"apply": "at_once", "window": 15}}'
# (reference_steps 0: these were measured before stride and horizon grew with longer runs.)
MOMENT_VARIANTS := {"dmd": {"moments": "rescale", "reference_steps": 0}, "dmd_keep": {"moments": "keep", "reference_steps": 0}, "dmd_zero_first": {"moments": "zero_first", "reference_steps": 0}}
bench: $(STAMP)
	$(PY) bench/solver.py
	$(VENV)/bin/snakemake --cores $(CORES) results/plume/dataset.npz
	$(PY) bench/networks.py
	$(PY) bench/training.py --moments
	$(PY) bench/koopman_method.py --spec '{"check_points": 8192}'
	$(PY) bench/phases.py bench/results/training.json
	for lr in 0.02:2e-2 0.01:1e-2; do \
		f=bench/results/frontier_b1024_lr$${lr#*:}; spec='{"optimizer": {"lr": '"$${lr%%:*}"', $(B1024_SPEC)'; \
		$(PY) bench/frontier.py --budgets 6500 13000 26000 --spec "$$spec" --out $$f.json && \
		$(PY) bench/frontier.py --budgets 6500 13000 26000 --spec "$$spec" --variants '{"dmd": {"patience": 5}}' \
			--adam-from $$f.json --out $${f}_patience5.json || exit 1; \
	done
	$(PY) bench/averaging.py
	for m in dmd adam_ema0.99 dmd_ema0.99 dmd_ema0.998; do \
		$(PY) bench/phases.py bench/results/averaging.json --method $$m \
			--out bench/results/averaging_$${m}_phases.json || exit 1; \
	done
	$(PY) bench/averaging.py --spec '{"optimizer": {"lr": 0.003, "schedule": "constant"}}' \
		--decays 0.998 0.9995 --out bench/results/averaging_constant3e-3.json
	$(PY) bench/phases.py bench/results/averaging_constant3e-3.json --base adam_ema0.9995 \
		--method dmd_ema0.9995 --out bench/results/averaging_constant3e-3_ema0.9995_phases.json
	$(PY) bench/averaging.py --spec '{"optimizer": {"lr": 0.01, "schedule": "constant"}}' \
		--decays 0.998 0.9995 --out bench/results/averaging_constant1e-2.json
	$(PY) bench/averaging.py --spec '{"optimizer": {"lr": 0.001, "schedule": "constant"}}' \
		--decays 0.998 0.9995 --out bench/results/averaging_constant1e-3.json
	$(PY) bench/averaging.py --spec '{"optimizer": {"lr": 0.0003, "schedule": "constant"}}' \
		--decays 0.998 --out bench/results/averaging_constant3e-4.json
	$(PY) bench/averaging.py --spec '{"optimizer": {"lr": 0.001, "schedule": "constant"}, "steps": 52000}' \
		--decays 0.998 --out bench/results/averaging_constant1e-3_T52000.json
	for r in 1e-2 3e-3 1e-3 3e-4 1e-3_T52000; do \
		f=bench/results/averaging_constant$$r; \
		$(PY) bench/phases.py $$f.json --out $${f}_plain_phases.json && \
		$(PY) bench/phases.py $$f.json --base adam_ema0.998 --method dmd_ema0.998 --out $${f}_phases.json && \
		$(PY) bench/phases.py $$f.json --method dmd_ema0.998 --base-from bench/results/averaging.json \
			--out $${f}_vs_cosine_phases.json || exit 1; \
	done
	for r in 1e-2 3e-3 1e-3; do for m in dmd_ema0.998 adam_ema0.998; do for t in 6500 13000 26000; do \
		$(PY) bench/phases.py bench/results/averaging_constant$$r.json --method $$m \
			--base adam_T$$t --base-from bench/results/frontier_b1024_lr2e-2.json \
			--out bench/results/averaging_constant$${r}_$${m}_vs_T$${t}_phases.json || exit 1; \
	done; done; done
	f=bench/results/averaging_constant1e-3_T52000_ref13000; b=bench/results/averaging_constant1e-3_T52000.json; \
	$(PY) bench/averaging.py --methods dmd --decays 0.998 --out $$f.json --spec \
		'{"optimizer": {"lr": 0.001, "schedule": "constant"}, "steps": 52000, "dmd": {"reference_steps": 13000}}' && \
	$(PY) bench/phases.py $$f.json --base-from $$b --out $${f}_plain_phases.json && \
	$(PY) bench/phases.py $$f.json --base adam_ema0.998 --method dmd_ema0.998 --base-from $$b --out $${f}_phases.json && \
	$(PY) bench/phases.py $$f.json --method dmd_ema0.998 --base-from bench/results/averaging.json \
		--out $${f}_vs_cosine_phases.json
	for lr in 0.02:2e-2 0.01:1e-2; do \
		$(PY) bench/frontier.py --budgets 52000 --variants '{}' --out bench/results/frontier_b1024_lr$${lr#*:}_T52000_adam.json \
			--spec '{"optimizer": {"lr": '"$${lr%%:*}"', $(B1024_SPEC)' || exit 1; \
	done
	$(PY) bench/frontier.py --budgets 52000 --variants '{"dmd": {"patience": 5}}' \
		--adam-from bench/results/frontier_b1024_lr1e-2_T52000_adam.json --spec '{"optimizer": {"lr": 0.01, $(B1024_SPEC)' \
		--out bench/results/frontier_b1024_lr1e-2_T52000_patience5.json
	$(PY) bench/frontier.py --merge bench/results/frontier_b1024_lr2e-2_patience5.json \
		bench/results/frontier_b1024_lr1e-2_patience5.json bench/results/frontier_b1024_lr2e-2_T52000_adam.json \
		bench/results/frontier_b1024_lr1e-2_T52000_patience5.json --out bench/results/frontier_b1024_T52000_merged.json
	$(PY) bench/frontier.py --budgets 52000 --variants '{"dmd_ref13000": {"patience": 5, "reference_steps": 13000}}' \
		--adam-from bench/results/frontier_b1024_lr1e-2_T52000_adam.json --spec '{"optimizer": {"lr": 0.01, $(B1024_SPEC)' \
		--out bench/results/frontier_b1024_lr1e-2_T52000_ref13000.json
	for f in patience5:dmd ref13000:dmd_ref13000; do \
		$(PY) bench/phases.py bench/results/frontier_b1024_lr1e-2_T52000_$${f%%:*}.json --base adam_T52000 \
			--method $${f#*:}_T52000 --out bench/results/frontier_b1024_lr1e-2_T52000_$${f%%:*}_phases.json || exit 1; \
	done
	for t in 39000 104000; do \
		$(PY) bench/frontier.py --budgets $$t --variants '{"dmd": {"patience": 5}}' \
			--spec '{"optimizer": {"lr": 0.01, $(B1024_SPEC)' \
			--out bench/results/frontier_b1024_lr1e-2_T$${t}_patience5.json || exit 1; \
	done
	$(PY) bench/frontier.py --budgets 78000 --variants '{}' --spec '{"optimizer": {"lr": 0.01, $(B1024_SPEC)' \
		--out bench/results/frontier_b1024_lr1e-2_T78000_adam.json
	$(PY) bench/frontier.py --budgets 78000 --variants '{"dmd": {"patience": 5}}' \
		--adam-from bench/results/frontier_b1024_lr1e-2_T78000_adam.json --spec '{"optimizer": {"lr": 0.01, $(B1024_SPEC)' \
		--out bench/results/frontier_b1024_lr1e-2_T78000_patience5.json
	$(PY) bench/frontier.py --budgets 39000 --variants '{}' --spec '{"optimizer": {"lr": 0.02, $(B1024_SPEC)' \
		--out bench/results/frontier_b1024_lr2e-2_T39000_adam.json
	$(PY) bench/frontier.py --merge bench/results/frontier_b1024_lr2e-2_patience5.json \
		bench/results/frontier_b1024_lr1e-2_patience5.json bench/results/frontier_b1024_lr2e-2_T52000_adam.json \
		bench/results/frontier_b1024_lr1e-2_T52000_patience5.json bench/results/frontier_b1024_lr1e-2_T104000_patience5.json \
		bench/results/frontier_b1024_lr1e-2_T39000_patience5.json bench/results/frontier_b1024_lr1e-2_T78000_patience5.json \
		bench/results/frontier_b1024_lr2e-2_T39000_adam.json \
		--out bench/results/frontier_b1024_T104000_merged.json --plot docs/images/frontier_b1024.png
	for t in 26000 13000; do \
		f=bench/results/averaging_hold0.8_3e-3; [ $$t = 26000 ] || f=$${f}_T$$t; \
		$(PY) bench/averaging.py --decays 0.998 --out $$f.json --spec \
			"{\"optimizer\": {\"lr\": 0.003, \"schedule\": \"cosine\", \"hold\": 0.8}, \"steps\": $$t}" && \
		$(PY) bench/phases.py $$f.json --out $${f}_phases.json && \
		$(PY) bench/phases.py $$f.json --base-from bench/results/averaging.json \
			--out $${f}_vs_cosine_phases.json || exit 1; \
	done
	$(PY) bench/phases.py bench/results/averaging_hold0.8_3e-3.json --base adam_ema0.998 \
		--method dmd_ema0.998 --out bench/results/averaging_hold0.8_3e-3_ema_phases.json
	$(PY) bench/phases.py bench/results/averaging_hold0.8_3e-3.json --method dmd_ema0.998 \
		--base-from bench/results/averaging.json --out bench/results/averaging_hold0.8_3e-3_ema_vs_cosine_phases.json
	for h in 0.5 0.75; do \
		$(PY) bench/frontier.py --budgets 26000 --spec "{\"optimizer\": {\"hold\": $$h}}" --out bench/results/frontier_b1024_hold$$h.json && \
		$(PY) bench/phases.py bench/results/frontier_b1024_hold$$h.json --base adam_T26000 --method dmd_T26000 || exit 1; \
	done
	$(PY) bench/training.py --moments $(OLD) --out bench/results/training_batch4096.json
	$(PY) bench/frontier.py --out bench/results/frontier_spread.json \
		$(AT_ONCE) \
		--variants '{"dmd_spread": {"apply": "spread"}, "dmd_spread_keep": {"apply": "spread", "moments": "keep"}}'
	$(PY) bench/frontier.py --out bench/results/frontier_every.json $(FRESH) --variants '{"dmd_every5": {"every": 5}}'
	$(PY) bench/frontier.py --out bench/results/frontier_sliding.json $(OLD) --adam-from bench/results/frontier_every.json
	$(PY) bench/frontier.py --out bench/results/frontier_restart1.3.json $(OLD) --adam-from bench/results/frontier_every.json \
		--variants '{"dmd_restart1.3": {"restart": 1.3}}'
	$(PY) bench/frontier.py --out bench/results/frontier_restart2.0.json $(OLD) --adam-from bench/results/frontier_every.json \
		--variants '{"dmd_restart2.0": {"restart": 2.0}}'
	$(PY) bench/frontier.py --out bench/results/frontier_every_checks8192.json \
		$(FRESH) --spec '{"check_points": 8192}' \
		--variants '{"dmd_every5": {"every": 5}}'
	$(PY) bench/training.py --moments --out bench/results/training_every.json \
		$(FRESH) --spec '{"check_points": 8192, "dmd": {"every": 5}}'
	$(PY) bench/frontier.py --out bench/results/frontier_spread_w10.json $(FRESH) \
		--variants '{"dmd_spread_w10": {"apply": "spread", "window": 10}}'
	$(PY) bench/frontier.py --budgets 13000 26000 52000 --out bench/results/frontier_long.json $(FRESH) \
		--variants '{"dmd_spread_w10": {"apply": "spread", "window": 10}}'
	$(PY) bench/frontier.py --budgets 1625 2300 3250 4600 6500 --out bench/results/frontier_short_lengths.json \
		$(AT_ONCE) --variants '{"dmd": {}, "dmd_short10": {"by_budget": {"1625": {"window": 10}, "2300": {"window": 10}, "3250": {"window": 10}, "4600": {"window": 10}}}}'
	$(PY) bench/frontier.py $(AT_ONCE) --variants '$(MOMENT_VARIANTS)'
	$(PY) bench/frontier.py $(AT_ONCE) --budgets 13000 26000 --out bench/results/frontier_stride40.json \
		--variants '{"dmd_stride40": {"stride": 40, "horizon": 3200, "max_backtracks": 6, "reference_steps": 0}}'
	$(PY) bench/frontier.py $(AT_ONCE) --out bench/results/frontier_scaled.json \
		--variants '{"dmd": {}, "dmd_unscaled": {"reference_steps": 0}}'
	$(PY) bench/frontier.py $(AT_ONCE) --out bench/results/frontier_proportional.json \
		--variants '{"dmd": {"reference_steps": 0}, "dmd_scaled": {"reference_steps": 0, "by_budget": {"1625": {"stride": 5, "horizon": 400}, "3250": {"stride": 10, "horizon": 800}, "13000": {"stride": 40, "horizon": 3200}, "26000": {"stride": 80, "horizon": 6400}}}}'
	$(PY) bench/frontier.py $(AT_ONCE) --budgets 13000 26000 --out bench/results/frontier_window.json \
		--variants '{"dmd_window": {"reference_steps": 0, "by_budget": {"13000": {"window": 30, "horizon": 3200}, "26000": {"window": 60, "horizon": 6400}}}}'
	$(PY) bench/frontier.py $(AT_ONCE) --budgets 6500 26000 --out bench/results/frontier_late.json \
		--variants '{"dmd_late25": {"by_budget": {"6500": {"start": 1625}, "26000": {"start": 6500}}}, "dmd_late50": {"by_budget": {"6500": {"start": 3250}, "26000": {"start": 13000}}}}'
	$(PY) bench/frontier.py $(AT_ONCE) --budgets 1625 3250 --out bench/results/frontier_short.json \
		--variants '{"dmd": {}, "dmd_window10": {"window": 10}, "dmd_window8": {"window": 8}}'
	$(PY) bench/frontier.py $(AT_ONCE) --budgets 1625 3250 6500 13000 --out bench/results/frontier_short10.json \
		--variants '{"dmd": {}, "dmd_short10": {"by_budget": {"1625": {"window": 10}, "3250": {"window": 10}}}}'
	$(PY) bench/ablation.py
	$(PY) bench/ablation.py --optimizer cosine_lr1e-2 --out bench/results/ablation_cosine.json \
		--variants mean_stride20_window15_rescale default_horizon20 default_window10 \
		default_zero_first default_horizon3200 default_refit default_horizon3200_refit
	$(PY) bench/ablation.py --optimizer default --out bench/results/ablation_default.json \
		--variants mean_stride20_window15_rescale default_horizon20 default_window10 \
		default_zero_first default_horizon3200 mean_stride20_rescale
	$(PY) bench/ablation.py --optimizer default --out bench/results/ablation_search.json \
		--variants mean_stride20_window15_rescale default_warm
	$(PY) bench/jump_worth.py
	$(PY) bench/training.py --moments --steps 1000 --spec '$(FIELD_SPEC)' --out bench/results/training_field.json
	$(PY) bench/predictability.py

clean-results:
	rm -rf results logs .snakemake
