from hexad.cli import main

main()
