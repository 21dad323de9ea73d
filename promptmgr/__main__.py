from promptmgr.cli import main

main()
