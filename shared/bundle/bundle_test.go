package bundle

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestRedactObject(t *testing.T) {
	objs := []string{`apiVersion: v1
kind: Secret
metadata:
  name: s
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"API_KEY":"c2VjcmV0LXZhbHVlLTE="}}'
data:
  API_KEY: c2VjcmV0LXZhbHVlLTE=
stringData:
  OTHER: secret-value-2
`, `apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  LOG_LEVEL: DEBUG
  DB_PASSWORD: secret-value-3
  DATABASE_URL: postgresql://u:secret-value-4@db:5432/x
`, `apiVersion: apps/v1
kind: Deployment
metadata: {name: d, managedFields: [{manager: x}]}
spec:
  template:
    spec:
      containers:
      - name: c
        env:
        - {name: ADMIN_TOKEN, value: secret-value-5}
        - {name: LOG_LEVEL, value: DEBUG}
`}
	for _, y := range objs {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(y), &m); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		RedactObject(u)
		out, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		for _, bad := range []string{"secret-value", "c2VjcmV0LXZhbHVl", "last-applied", "managedFields"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s kept %q:\n%s", u.GetKind(), bad, s)
			}
		}
		if u.GetKind() != "Secret" && !strings.Contains(s, "DEBUG") {
			t.Errorf("plain value lost:\n%s", s)
		}
	}
}
