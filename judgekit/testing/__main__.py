"""`python -m judgekit.testing` runs a JudgeServer until Ctrl-C."""

from judgekit.testing.standalone import main

main()
