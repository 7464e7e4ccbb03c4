# solve stage (being written)
