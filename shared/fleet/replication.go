package fleet

import (
	"slices"
	"strings"
)

// ServiceTypes are the values of settings.replicationService.
var ServiceTypes = []string{"LoadBalancer", "NodePort", "ClusterIP"}

// Replication is how the standby regions reach the primary's database: the
// settings replicationService, primaryHost and primaryPort. They are read by
// Replication, not by Parse, so that only deploy --fleet links their
// parsing (Parse accepts the keys).
type Replication struct {
	// ServiceType is the type of the Service the primary region exposes its
	// database through to the standbys: LoadBalancer (the default), NodePort
	// or ClusterIP.
	ServiceType string
	// Host and Port are where the standby regions reach that Service ("" and
	// 0: its load-balancer address and port, read by deploy).
	Host string
	Port int
}

// Replication reads the replication settings; a wrong value is an exit-2
// error with the file and line, as Parse's.
func (f *Fleet) Replication() (Replication, error) {
	r := Replication{ServiceType: ServiceTypes[0]}
	n := f.settings
	if n == nil {
		return r, nil
	}
	p := &parser{path: f.Path}
	m := p.fields(n, "settings", settingKeys...)
	if v := m["replicationService"]; v != nil {
		r.ServiceType = p.str(m, "replicationService")
		if !slices.Contains(ServiceTypes, r.ServiceType) {
			p.errorf(v.Line, "settings.replicationService must be %s, not %q", strings.Join(ServiceTypes, ", "), v.Value)
		}
	}
	r.Host = p.str(m, "primaryHost")
	if v := m["primaryPort"]; v != nil {
		if r.Port = p.integer(m, "primaryPort"); r.Port < 1 || r.Port > 65535 {
			p.errorf(v.Line, "settings.primaryPort must be a port (1-65535), not %s", v.Value)
		}
	}
	if p.err != nil {
		return r, p.err
	}
	return r, nil
}
