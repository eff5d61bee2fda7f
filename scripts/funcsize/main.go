// Command funcsize lists the longest functions of the Go files under the
// given directories (tests excluded): lines and cyclomatic complexity, the
// figures the house review measures. Usage: go run ./scripts/funcsize [-n 10] [-over 100] DIR...
// With -over N it exits 1 when a function is longer than N lines.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type fn struct {
	pos        string
	name       string
	lines, cyc int
}

func main() {
	n := flag.Int("n", 10, "how many functions to list")
	over := flag.Int("over", 0, "exit 1 when a function has more lines than this (0: never)")
	flag.Parse()
	var all []fn
	fset := token.NewFileSet()
	for _, dir := range flag.Args() {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			for _, decl := range f.Decls {
				fd, ok := decl.(*ast.FuncDecl)
				if !ok || fd.Body == nil {
					continue
				}
				name := fd.Name.Name
				if fd.Recv != nil && len(fd.Recv.List) == 1 {
					name = recvName(fd.Recv.List[0].Type) + "." + name
				}
				start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
				all = append(all, fn{pos: fmt.Sprintf("%s:%d", p, start.Line), name: name, lines: end.Line - start.Line + 1, cyc: complexity(fd)})
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "funcsize:", err)
			os.Exit(2)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].lines > all[j].lines })
	count := 0
	for i, f := range all {
		if *over > 0 && f.lines > *over {
			count++
		}
		if i < *n {
			fmt.Printf("%5d lines  cyclomatic %3d  %s  %s\n", f.lines, f.cyc, f.name, f.pos)
		}
	}
	fmt.Printf("%d functions", len(all))
	if *over > 0 {
		fmt.Printf(", %d over %d lines", count, *over)
	}
	fmt.Println()
	if count > 0 {
		os.Exit(1)
	}
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

// complexity is McCabe's: 1 + branches (if, for, range, case, &&, ||).
func complexity(fd *ast.FuncDecl) int {
	c := 1
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if x.List != nil {
				c++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				c++
			}
		case *ast.FuncLit:
			return true
		}
		return true
	})
	return c
}
