"""The `batchline` command line: validate files, run the local cloud, submit and follow files,
read the ledger and the warehouse. A development and operations tool: it imports the library
and the local cloud, and never ships in a function bundle."""
