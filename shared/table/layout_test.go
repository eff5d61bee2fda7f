package table

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// tablewriterLayout is the layout the suite printed through
// olekukonko/tablewriter before layout was written out (kept here, in a
// test, so that the binaries do not link it): layout must print the same.
func tablewriterLayout(headers []string, rows [][]string) []string {
	var buf bytes.Buffer
	r := renderer.NewBlueprint(tw.Rendition{
		Borders: tw.BorderNone,
		Symbols: tw.NewSymbols(tw.StyleNone),
		Settings: tw.Settings{
			Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off, ShowHeader: tw.Off, ShowFooter: tw.Off},
			Lines:      tw.Lines{ShowHeaderLine: tw.Off, ShowFooterLine: tw.Off, ShowTop: tw.Off, ShowBottom: tw.Off},
		},
	})
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "   ", Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	any := func(s []string) []any {
		out := make([]any, len(s))
		for i, v := range s {
			out[i] = v
		}
		return out
	}
	t.Header(any(headers)...)
	for _, row := range rows {
		_ = t.Append(any(row)...)
	}
	_ = t.Render()
	var lines []string
	for _, line := range strings.Split(buf.String(), "\n") {
		if line != "" {
			lines = append(lines, strings.TrimRight(line, " "))
		}
	}
	return lines
}

func TestLayoutMatchesTablewriter(t *testing.T) {
	for name, c := range map[string]struct {
		headers []string
		rows    [][]string
	}{
		"plain": {[]string{"NAME", "READY", "AGE"}, [][]string{{"api", "1/1", "3d"}, {"worker-long-name", "0/2", "12m"}}},
		"empty cells": {[]string{"CODE", "SEVERITY", "MESSAGE", "FIX"},
			[][]string{{"PG001", "error", "", "restart it"}, {"", "", "", ""}, {"X", "info", "ok", ""}}},
		"no rows":     {[]string{"NAME", "SIZE"}, nil},
		"line break":  {[]string{"NAME", "LOG", "AGE"}, [][]string{{"a", "one\ntwo three", "1s"}, {"bb", "x", "2s"}}},
		"wide runes":  {[]string{"NAME", "NOTE"}, [][]string{{"日本語", "x"}, {"é", "größe"}}},
		"spaces kept": {[]string{"A", "B"}, [][]string{{"  lead", "trail  "}, {"mid dle", "b"}}},
		"long free text": {[]string{"BACKUP", "KIND", "MESSAGE"},
			[][]string{{"piyasa_db-piyasa-chatbot-20261201T020000.000Z.sql.zst.age", "scheduled", strings.Repeat("word ", 30)}}},
	} {
		t.Run(name, func(t *testing.T) {
			got, _ := layout(c.headers, c.rows, nil)
			want := tablewriterLayout(c.headers, c.rows)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("layout\n%q\ntablewriter printed\n%q", got, want)
			}
		})
	}
}
