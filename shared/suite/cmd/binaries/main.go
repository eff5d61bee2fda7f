// Command binaries prints the suite's executables, for the Makefile and
// scripts/release.sh, so that the names are made in one place (package suite):
//
//	go run ./shared/suite/cmd/binaries          one line per main package under plugins/: "<dir> <executable>"
//	go run ./shared/suite/cmd/binaries -links   one line per completion link: "<link> <target>"
//	go run ./shared/suite/cmd/binaries -tags    the build tags of every binary (suite.BuildTags)
//
// Run it from the repository root (or pass -root).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	links := flag.Bool("links", false, "print the completion links (kubectl_complete-piyasa-<sub> -> kubectl_complete-piyasa) of the subcommands that exist")
	tags := flag.Bool("tags", false, "print the build tags of the binaries")
	flag.Parse()
	if *tags {
		fmt.Println(suite.BuildTags)
		return
	}
	mains, err := suite.Mains(*root)
	if err != nil || len(mains) == 0 {
		fmt.Fprintf(os.Stderr, "error: no main packages under %s/plugins (%v)\n", *root, err)
		os.Exit(1)
	}
	for _, m := range mains {
		switch {
		case !*links:
			fmt.Println(m.Dir, m.Executable)
		case m.Sub != "":
			fmt.Println(suite.CompletionLink(m.Sub), suite.CompletionHelper)
		}
	}
}
