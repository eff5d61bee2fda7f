// Package fleet is the suite's notion of several clusters: the fleet file
// (piyasa-fleet.yaml: the regions, each a kubeconfig context with an
// environment, a role and a wave), the targets of a fan-out (a fleet's regions
// or a plain list of contexts), the parallel run with a per-cluster timeout,
// and the printing of the per-cluster results. It links no Kubernetes client,
// so that the dispatcher can use it too.
package fleet

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// Kind is the kind of a fleet file.
const Kind = "Fleet"

// DefaultFile is the usual name of a fleet file.
const DefaultFile = "piyasa-fleet.yaml"

// The roles of a region.
const (
	RolePrimary = "primary"
	RoleStandby = "standby"
)

// The modes of a standby region's api and frontend (Settings.StandbyAPI).
const (
	StandbyReadOnly = "readOnly"
	StandbyZero     = "zero"
)

// DefaultMaxLagSeconds is the default of Settings.MaxLagSeconds.
const DefaultMaxLagSeconds = 30

// Fleet is a parsed and validated fleet file.
type Fleet struct {
	// Path is the file it was read from (for messages).
	Path     string
	Settings Settings
	// Regions in the file's order.
	Regions []Region
}

// Settings apply to the whole fleet.
type Settings struct {
	// StandbyAPI is how a standby region runs its api and frontend:
	// readOnly (up, against the read-only database) or zero (scaled to 0).
	StandbyAPI string
	// MaxLagSeconds is the replication lag of a standby over which diagnose
	// reports it.
	MaxLagSeconds int
}

// Region is one cluster of the fleet.
type Region struct {
	// Name names the region in messages and output (a DNS label).
	Name string
	// Context is the kubeconfig context that reaches the region's cluster.
	Context string
	// Environment is the app environment (dev or prod) deployed there.
	Environment string
	// Namespace is the app's namespace ("": the environment's).
	Namespace string
	// Role is primary (the writable database, the workers) or standby.
	Role string
	// Wave orders releases: wave 1 first (>= 1).
	Wave int
	// Line is the line of the region in the file.
	Line int
}

// Load reads and validates the fleet file at path. Every error is an exit-2
// usage error whose message starts with "path:line:".
func Load(path string) (*Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, exit.Usagef("--fleet: %v", err).WithHint("write a fleet file (%s); see 'Fleets (several regions)' in the README", DefaultFile)
	}
	return Parse(path, data)
}

// Parse parses and validates a fleet file's content; path names it in messages.
// Unknown fields are refused.
func Parse(path string, data []byte) (*Fleet, error) {
	p := &parser{path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, p.yamlError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, p.errorf(1, "the file is empty: it must be a %s document", Kind)
	}
	f := &Fleet{Path: path, Settings: Settings{StandbyAPI: StandbyReadOnly, MaxLagSeconds: DefaultMaxLagSeconds}}
	p.document(doc.Content[0], f)
	if p.err == nil {
		p.validate(f)
	}
	if p.err != nil {
		return nil, p.err
	}
	return f, nil
}

// parser walks the YAML nodes and keeps the first error (by line).
type parser struct {
	path string
	err  *exit.Error
	line int
	more int
}

// errorf records an error at line; the earliest line wins, the others are counted.
func (p *parser) errorf(line int, format string, args ...any) *exit.Error {
	e := exit.Usagef("%s:%d: %s", p.path, line, fmt.Sprintf(format, args...))
	switch {
	case p.err == nil:
		p.err, p.line = e, line
	case line < p.line:
		p.err, p.line = e, line
		p.more++
	default:
		p.more++
	}
	p.err.Hint = "see 'Fleets (several regions)' in the README for the fields"
	if p.more > 0 {
		p.err.Hint = fmt.Sprintf("%d more problem(s) in the file; %s", p.more, p.err.Hint)
	}
	return p.err
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError gives the YAML syntax error the file:line form.
func (p *parser) yamlError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return p.errorf(n, "not valid YAML: %s", m[2])
	}
	return p.errorf(1, "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// fields walks a mapping node: each known key's value goes to its handler;
// an unknown or repeated key is an error.
func (p *parser) fields(n *yaml.Node, what string, handlers map[string]func(*yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s must be a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		h, ok := handlers[k.Value]
		switch {
		case !ok:
			p.errorf(k.Line, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(keys(handlers), ", "))
		case seen[k.Value]:
			p.errorf(k.Line, "%s: field %q is given twice", what, k.Value)
		default:
			seen[k.Value] = true
			h(v)
		}
	}
}

func keys(m map[string]func(*yaml.Node)) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// str stores a scalar string value.
func (p *parser) str(what string, dst *string) func(*yaml.Node) {
	return func(v *yaml.Node) {
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			p.errorf(v.Line, "%s must be a string", what)
			return
		}
		*dst = v.Value
	}
}

// integer stores a scalar integer value.
func (p *parser) integer(what string, dst *int) func(*yaml.Node) {
	return func(v *yaml.Node) {
		n, err := strconv.Atoi(v.Value)
		if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil {
			p.errorf(v.Line, "%s must be a whole number, not %q", what, v.Value)
			return
		}
		*dst = n
	}
}

func (p *parser) document(n *yaml.Node, f *Fleet) {
	var apiVersion, kind string
	var regions *yaml.Node
	p.fields(n, "the fleet", map[string]func(*yaml.Node){
		"apiVersion": p.str("apiVersion", &apiVersion),
		"kind":       p.str("kind", &kind),
		"settings":   func(v *yaml.Node) { p.settings(v, &f.Settings) },
		"regions":    func(v *yaml.Node) { regions = v },
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if apiVersion != app.APIVersion {
		p.errorf(n.Line, "apiVersion must be %s, not %q", app.APIVersion, apiVersion)
	}
	if kind != Kind {
		p.errorf(n.Line, "kind must be %s, not %q", Kind, kind)
	}
	if regions == nil {
		p.errorf(n.Line, "regions is missing: name at least one region")
		return
	}
	if regions.Kind != yaml.SequenceNode || len(regions.Content) == 0 {
		p.errorf(regions.Line, "regions must be a list of at least one region")
		return
	}
	for i, r := range regions.Content {
		f.Regions = append(f.Regions, p.region(i, r))
	}
}

func (p *parser) settings(n *yaml.Node, s *Settings) {
	p.fields(n, "settings", map[string]func(*yaml.Node){
		"standbyApi": func(v *yaml.Node) {
			p.str("settings.standbyApi", &s.StandbyAPI)(v)
			if s.StandbyAPI != StandbyReadOnly && s.StandbyAPI != StandbyZero {
				p.errorf(v.Line, "settings.standbyApi must be %s or %s, not %q", StandbyReadOnly, StandbyZero, v.Value)
			}
		},
		"maxLagSeconds": func(v *yaml.Node) {
			p.integer("settings.maxLagSeconds", &s.MaxLagSeconds)(v)
			if s.MaxLagSeconds < 0 {
				p.errorf(v.Line, "settings.maxLagSeconds must be 0 or more")
			}
		},
	})
}

// region reads one region; its checks that need the other regions are in validate.
func (p *parser) region(i int, n *yaml.Node) Region {
	r := Region{Line: n.Line}
	lines := map[string]int{}
	at := func(key string, h func(*yaml.Node)) func(*yaml.Node) {
		return func(v *yaml.Node) { lines[key] = v.Line; h(v) }
	}
	what := fmt.Sprintf("region %d", i+1)
	p.fields(n, what, map[string]func(*yaml.Node){
		"name":        at("name", p.str("name", &r.Name)),
		"context":     at("context", p.str("context", &r.Context)),
		"environment": at("environment", p.str("environment", &r.Environment)),
		"namespace":   at("namespace", p.str("namespace", &r.Namespace)),
		"role":        at("role", p.str("role", &r.Role)),
		"wave":        at("wave", p.integer("wave", &r.Wave)),
	})
	if n.Kind != yaml.MappingNode {
		return r
	}
	line := func(key string) int {
		if l, ok := lines[key]; ok {
			return l
		}
		return n.Line
	}
	who := fmt.Sprintf("region %q", r.Name)
	switch {
	case r.Name == "":
		who = what
		p.errorf(line("name"), "%s: name is missing", what)
	case !dnsLabel(r.Name):
		p.errorf(line("name"), "region name %q must be a DNS label (lower-case letters, digits and '-')", r.Name)
	}
	if r.Context == "" {
		p.errorf(line("context"), "%s: context (a kubeconfig context) is missing", who)
	}
	if _, err := app.LookupEnvironment(r.Environment); err != nil {
		p.errorf(line("environment"), "%s: environment must be %s, not %q", who, strings.Join(app.EnvironmentNames(), " or "), r.Environment)
	}
	if r.Namespace != "" && !dnsLabel(r.Namespace) {
		p.errorf(line("namespace"), "%s: namespace %q is not a valid namespace name", who, r.Namespace)
	}
	if r.Role != RolePrimary && r.Role != RoleStandby {
		p.errorf(line("role"), "%s: role must be %s or %s", who, RolePrimary, RoleStandby)
	}
	if _, ok := lines["wave"]; !ok {
		p.errorf(n.Line, "%s: wave is missing (1 for the first wave of a release)", who)
	} else if r.Wave < 1 {
		p.errorf(line("wave"), "%s: wave must be 1 or more", who)
	}
	return r
}

// validate checks what involves several regions: unique names and
// contexts, exactly one primary.
func (p *parser) validate(f *Fleet) {
	names, contexts := map[string]int{}, map[string]int{}
	var primaries []Region
	for _, r := range f.Regions {
		if l, dup := names[r.Name]; dup {
			p.errorf(r.Line, "region %q: the name is already used by the region at line %d", r.Name, l)
		}
		names[r.Name] = r.Line
		if l, dup := contexts[r.Context]; dup {
			p.errorf(r.Line, "region %q: context %q is already used by the region at line %d", r.Name, r.Context, l)
		}
		contexts[r.Context] = r.Line
		if r.Role == RolePrimary {
			primaries = append(primaries, r)
		}
	}
	switch {
	case len(primaries) == 0:
		p.errorf(f.Regions[0].Line, "no region has role primary: exactly one must (the writable database, the workers)")
	case len(primaries) > 1:
		p.errorf(primaries[1].Line, "region %q: role primary is already the region %q's (line %d): exactly one region is primary", primaries[1].Name, primaries[0].Name, primaries[0].Line)
	}
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func dnsLabel(s string) bool { return dnsLabelRE.MatchString(s) }

// Primary returns the primary region.
func (f *Fleet) Primary() Region {
	for _, r := range f.Regions {
		if r.Role == RolePrimary {
			return r
		}
	}
	return Region{}
}

// EffectiveNamespace returns the region's namespace: its own, else its environment's.
func (r Region) EffectiveNamespace() string {
	if r.Namespace != "" {
		return r.Namespace
	}
	return app.Environments[r.Environment].Namespace
}
