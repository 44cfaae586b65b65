from latentscenes.cli.main import console

console()
