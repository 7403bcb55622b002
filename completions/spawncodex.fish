complete --keep-order --exclusive --command spawncodex --arguments "(COMPLETE=fish spawncodex -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
