import pytest

from surrogate.parallel import run_jobs


def test_results_come_back_in_the_order_of_the_jobs():
    jobs = [-5, 3, -1, 0, -8, 2]
    assert run_jobs(abs, jobs, workers=2, progress=False) == [5, 3, 1, 0, 8, 2]


def test_a_failing_job_raises_its_own_error():
    with pytest.raises(TypeError):
        run_jobs(abs, [1, "x"], workers=2, progress=False)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts_are_named(workers):
    with pytest.raises(ValueError, match=f"workers must be an integer >= 1, got {workers!r}"):
        run_jobs(abs, [1], workers=workers)


def test_no_jobs_start_no_workers(capsys):
    assert run_jobs(abs, [], workers=2) == []
    assert capsys.readouterr().err == ""
