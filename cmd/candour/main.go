// Command candour runs the Candour whistleblowing portal and its administration commands.
package main

import (
	"os"

	"candour/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
