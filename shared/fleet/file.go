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
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

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

// Fleet is a parsed and validated fleet file.
type Fleet struct {
	// Path is the file it was read from (for messages).
	Path     string
	Settings Settings
	// Regions in the file's order.
	Regions []Region
	// settings is the settings mapping, for Replication (nil: none given).
	settings *yaml.Node
	// regionNodes are the regions' mappings, for DatabaseAddress.
	regionNodes []*yaml.Node
}

// Settings apply to the whole fleet.
type Settings struct {
	// StandbyAPI is how a standby region runs its api and frontend: zero
	// (scaled to 0, the default) or readOnly (up, against the read-only
	// database: refused by deploy --fleet, the app has no read-only switch).
	StandbyAPI string
}

// regionKeys are the known keys of a region (DatabaseAddress reads the last two).
var regionKeys = []string{"name", "context", "environment", "namespace", "role", "wave", "databaseHost", "databasePort"}

// settingKeys are the known keys of settings (Replication reads the last three).
var settingKeys = []string{"standbyApi", "replicationService", "primaryHost", "primaryPort"}

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
	// Line is the line of the region in the file. Its databaseHost and
	// databasePort are read by DatabaseAddress.
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
	f := &Fleet{Path: path, Settings: Settings{StandbyAPI: StandbyZero}}
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

// yamlError gives the YAML syntax error ("yaml: line 7: did not find
// expected key") the file:line form.
func (p *parser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	return p.errorf(line, "not valid YAML: %s", msg)
}

// fields reads a mapping node into its values by key: an unknown or
// repeated key is an error. nil when n is not a mapping.
func (p *parser) fields(n *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errorf(n.Line, "%s must be a mapping", what)
		return nil
	}
	m := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch {
		case !slices.Contains(known, k.Value):
			p.errorf(k.Line, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
		case m[k.Value] != nil:
			p.errorf(k.Line, "%s: field %q is given twice", what, k.Value)
		default:
			m[k.Value] = n.Content[i+1]
		}
	}
	return m
}

// str returns the string value of key in m ("" when absent).
func (p *parser) str(m map[string]*yaml.Node, key string) string {
	v := m[key]
	if v == nil {
		return ""
	}
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errorf(v.Line, "%s must be a string", key)
	}
	return v.Value
}

// integer returns the whole-number value of key in m (0 when absent).
func (p *parser) integer(m map[string]*yaml.Node, key string) int {
	v := m[key]
	if v == nil {
		return 0
	}
	n, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil {
		p.errorf(v.Line, "%s must be a whole number, not %q", key, v.Value)
	}
	return n
}

// lineOf returns the line of key's value in m, else the line of the mapping n.
func lineOf(m map[string]*yaml.Node, key string, n *yaml.Node) int {
	if v := m[key]; v != nil {
		return v.Line
	}
	return n.Line
}

func (p *parser) document(n *yaml.Node, f *Fleet) {
	m := p.fields(n, "the fleet", "apiVersion", "kind", "settings", "regions")
	if m == nil {
		return
	}
	if v := p.str(m, "apiVersion"); v != app.APIVersion {
		p.errorf(n.Line, "apiVersion must be %s, not %q", app.APIVersion, v)
	}
	if v := p.str(m, "kind"); v != Kind {
		p.errorf(n.Line, "kind must be %s, not %q", Kind, v)
	}
	if s := m["settings"]; s != nil {
		p.settings(s, &f.Settings)
		f.settings = s
	}
	regions := m["regions"]
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
		f.regionNodes = append(f.regionNodes, r)
	}
}

func (p *parser) settings(n *yaml.Node, s *Settings) {
	m := p.fields(n, "settings", settingKeys...)
	if v := m["standbyApi"]; v != nil {
		s.StandbyAPI = p.str(m, "standbyApi")
		if s.StandbyAPI != StandbyReadOnly && s.StandbyAPI != StandbyZero {
			p.errorf(v.Line, "settings.standbyApi must be %s or %s, not %q", StandbyReadOnly, StandbyZero, v.Value)
		}
	}
}

// region reads one region; its checks that need the other regions are in validate.
func (p *parser) region(i int, n *yaml.Node) Region {
	what := fmt.Sprintf("region %d", i+1)
	m := p.fields(n, what, regionKeys...)
	if m == nil {
		return Region{Line: n.Line}
	}
	r := Region{Name: p.str(m, "name"), Context: p.str(m, "context"), Environment: p.str(m, "environment"),
		Namespace: p.str(m, "namespace"), Role: p.str(m, "role"), Wave: p.integer(m, "wave"), Line: n.Line}
	who := fmt.Sprintf("region %q", r.Name)
	switch {
	case r.Name == "":
		who = what
		p.errorf(lineOf(m, "name", n), "%s: name is missing", what)
	case !dnsLabel(r.Name):
		p.errorf(lineOf(m, "name", n), "region name %q must be a DNS label (lower-case letters, digits and '-')", r.Name)
	}
	if r.Context == "" {
		p.errorf(lineOf(m, "context", n), "%s: context (a kubeconfig context) is missing", who)
	}
	if _, err := app.LookupEnvironment(r.Environment); err != nil {
		p.errorf(lineOf(m, "environment", n), "%s: environment must be %s, not %q", who, strings.Join(app.EnvironmentNames(), " or "), r.Environment)
	}
	if r.Namespace != "" && !dnsLabel(r.Namespace) {
		p.errorf(lineOf(m, "namespace", n), "%s: namespace %q is not a valid namespace name", who, r.Namespace)
	}
	if r.Role != RolePrimary && r.Role != RoleStandby {
		p.errorf(lineOf(m, "role", n), "%s: role must be %s or %s", who, RolePrimary, RoleStandby)
	}
	switch {
	case m["wave"] == nil:
		p.errorf(n.Line, "%s: wave is missing (1 for the first wave of a release)", who)
	case r.Wave < 1:
		p.errorf(m["wave"].Line, "%s: wave must be 1 or more", who)
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
