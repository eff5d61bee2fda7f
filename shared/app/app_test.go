package app

import "testing"

func TestComponentLookups(t *testing.T) {
	for _, c := range Components {
		got, err := LookupComponent(c.Name)
		if err != nil || got.Name != c.Name {
			t.Errorf("LookupComponent(%s) = %v, %v", c.Name, got.Name, err)
		}
		// a pod carries its component's labels plus others
		labels := map[string]string{"pod-template-hash": "x", PartOfLabel: PartOfValue}
		for k, v := range c.Labels {
			labels[k] = v
		}
		if n := ComponentNameForLabels(labels); n != c.Name {
			t.Errorf("ComponentNameForLabels(%v) = %q, want %s", labels, n, c.Name)
		}
	}
	if _, err := LookupComponent("databse"); err == nil {
		t.Error("unknown component accepted")
	}
	if n := ComponentNameForLabels(map[string]string{"app": "piyasa-api"}); n != "" {
		t.Errorf("partial labels matched %q", n)
	}
	if c, _ := LookupComponent(Worker); c.HPA != "" {
		t.Error("the workers must have no HPA (TOTAL_WORKERS sharding)")
	}
}

func TestEnvironments(t *testing.T) {
	for _, name := range EnvironmentNames() {
		e, err := LookupEnvironment(name)
		if err != nil {
			t.Fatal(err)
		}
		if e.TotalWorkers != e.Replicas[Worker] {
			t.Errorf("%s: TOTAL_WORKERS %d != worker replicas %d", name, e.TotalWorkers, e.Replicas[Worker])
		}
		if got, ok := EnvironmentForNamespace(e.Namespace); !ok || got.Name != name {
			t.Errorf("EnvironmentForNamespace(%s) = %v", e.Namespace, got.Name)
		}
	}
	if _, err := LookupEnvironment("staging"); err == nil {
		t.Error("unknown environment accepted")
	}
}
