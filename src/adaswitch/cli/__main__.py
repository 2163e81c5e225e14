from adaswitch.cli import main

main()
