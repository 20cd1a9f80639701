from textdesk.cli import main

main()
