# koopman stage (being written)
