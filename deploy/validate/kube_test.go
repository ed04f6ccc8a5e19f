package validate

import (
	"testing"
)

func TestKustomize(t *testing.T) {
	if err := CheckKustomize(k8sDir, settingsFile); err != nil {
		t.Fatal(err)
	}
}

// Everything the kustomization is meant to make, and nothing else.
func TestKustomizeObjects(t *testing.T) {
	r, err := Render(k8sDir)
	if err != nil {
		t.Fatal(err)
	}
	for kind, n := range map[string][2]int{
		"StatefulSet":           {len(r.StatefulSets), 1},
		"Service":               {len(r.Services), 2},
		"ConfigMap":             {len(r.ConfigMaps), 1},
		"Secret":                {len(r.Secrets), 1},
		"PersistentVolumeClaim": {len(r.Claims), 1},
		"PodDisruptionBudget":   {len(r.Budgets), 1},
		"Ingress":               {len(r.Ingresses), 1},
	} {
		if n[0] != n[1] {
			t.Errorf("%d %ss, want %d", n[0], kind, n[1])
		}
	}
	for _, name := range []string{"smarteye", "smarteye-routes"} {
		if r.Services[name] == nil {
			t.Errorf("no Service %s", name)
		}
	}
	if len(r.StatefulSets) == 1 && r.StatefulSets[0].Name != "smarteye" {
		t.Errorf("the StatefulSet is %s, want smarteye", r.StatefulSets[0].Name)
	}
}

// Each check notices a broken copy.
func TestKustomizeCatches(t *testing.T) {
	const (
		sts      = "statefulset.yaml"
		services = "services.yaml"
		config   = "smarteye.yml"
	)
	for _, tc := range []struct {
		name  string
		edits []edit
		want  []string
	}{
		{name: "a route missing",
			edits: []edit{{config, "    - nats://smarteye-2.smarteye-routes:6222\n", ""}},
			want:  []string{"does not name smarteye-2.smarteye-routes"}},
		{name: "a route to another service",
			edits: []edit{{config, "nats://smarteye-2.smarteye-routes:6222", "nats://smarteye-2.smarteye:6222"}},
			want:  []string{"nats://smarteye-2.smarteye:6222 is no replica's stable name", "does not name smarteye-2.smarteye-routes"}},
		{name: "routes given in full",
			edits: []edit{{config, "nats://smarteye-2.smarteye-routes:6222", "nats://smarteye-2.smarteye-routes.default.svc.cluster.local:6222"}}},
		{name: "more replicas than routes",
			edits: []edit{{sts, "  replicas: 3\n", "  replicas: 5\n"}},
			want:  []string{"does not name smarteye-3.smarteye-routes", "does not name smarteye-4.smarteye-routes"}},
		{name: "a misspelt field",
			edits: []edit{{services, "publishNotReadyAddresses: true", "publishNotReadyAdresses: true"}},
			want:  []string{`unknown field "spec.publishNotReadyAdresses"`}},
		{name: "a misspelt pod field",
			edits: []edit{{sts, "terminationGracePeriodSeconds: 180", "terminationGracePeriodSecond: 180"}},
			want:  []string{`unknown field "spec.template.spec.terminationGracePeriodSecond"`}},
		{name: "not-ready pods unpublished",
			edits: []edit{{services, "publishNotReadyAddresses: true", "publishNotReadyAddresses: false"}},
			want:  []string{"does not publishNotReadyAddresses"}},
		{name: "serviceName not the headless service",
			edits: []edit{{sts, "serviceName: smarteye-routes", "serviceName: smarteye"}},
			want:  []string{"Service smarteye (the StatefulSet's serviceName) is not headless"}},
		{name: "serviceName of no service",
			edits: []edit{{sts, "serviceName: smarteye-routes", "serviceName: smarteye-peers"}},
			want:  []string{`serviceName "smarteye-peers" is no Service`}},
		{name: "a service selecting nothing",
			edits: []edit{{services, "  selector:\n    app.kubernetes.io/name: smarteye\n  ports:\n    - name: http", "  selector:\n    app.kubernetes.io/name: smarteye-web\n  ports:\n    - name: http"}},
			want:  []string{"Service smarteye: its selector map[app.kubernetes.io/name:smarteye-web] does not match"}},
		{name: "a budget selecting nothing",
			edits: []edit{{"pdb.yaml", "      app.kubernetes.io/name: smarteye", "      app: smarteye"}},
			want:  []string{"PodDisruptionBudget smarteye: its selector does not match"}},
		{name: "a budget of two",
			edits: []edit{{"pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 2"}},
			want:  []string{"maxUnavailable is not 1"}},
		{name: "readiness on /healthz",
			edits: []edit{{sts, "path: /readyz", "path: /healthz"}},
			want:  []string{`the readiness probe checks "/healthz", want /readyz`}},
		{name: "a probe on another port",
			edits: []edit{{sts, "          livenessProbe:\n            httpGet:\n              path: /healthz\n              port: http", "          livenessProbe:\n            httpGet:\n              path: /healthz\n              port: 9090"}},
			want:  []string{"the liveness probe is on port 9090, not the http port"}},
		{name: "no startup probe",
			edits: []edit{{sts, "          startupProbe:\n            httpGet:\n              path: /healthz\n              port: http\n            periodSeconds: 2\n            failureThreshold: 60\n", ""}},
			want:  []string{"no HTTP startup probe"}},
		{name: "preStop not draining",
			edits: []edit{{sts, `"drain", "-c"`, `"stop", "-c"`}},
			want:  []string{"preStop runs", "want /opt/smarteye/smarteye drain"}},
		{name: "a short grace period",
			edits: []edit{{sts, "terminationGracePeriodSeconds: 180", "terminationGracePeriodSeconds: 30"}},
			want:  []string{"terminationGracePeriodSeconds under 60"}},
		{name: "the node from the namespace",
			edits: []edit{{sts, "fieldPath: metadata.name", "fieldPath: metadata.namespace"}},
			want:  []string{"SMARTEYE_CLUSTER_NODE does not come from the pod's name"}},
		{name: "service links on",
			edits: []edit{{sts, "      enableServiceLinks: false\n", ""}},
			want:  []string{"enableServiceLinks is not false, so Service smarteye sets SMARTEYE_SERVICE_HOST"}},
		{name: "an undocumented variable",
			edits: []edit{{sts, "            - name: SMARTEYE_CLUSTER_NODE\n", "            - name: SMARTEYE_CLUSTER_NOD\n"}},
			want:  []string{"SMARTEYE_CLUSTER_NOD is not a documented key", "SMARTEYE_CLUSTER_NODE does not come from the pod's name"}},
		{name: "an undocumented secret variable",
			edits: []edit{{sts, "          ports:\n", "          envFrom:\n            - secretRef:\n                name: smarteye-database\n          ports:\n"}, {"secret.yaml", "stringData:\n", "stringData:\n  SMARTEYE_DATABASE_PASSWORD: x\n"}},
			want:  []string{"SMARTEYE_DATABASE_PASSWORD is not a documented key"}},
		{name: "an undocumented key in the ConfigMap",
			edits: []edit{{config, "  replicas: 3", "  replica: 3"}},
			want:  []string{"cluster.replica is not a documented key", `cluster.replicas is ""`}},
		{name: "two replicas",
			edits: []edit{{config, "  replicas: 3", "  replicas: 2"}},
			want:  []string{`cluster.replicas is "2", want 1, 3 or 5`}},
		{name: "no client listener for smarteye drain",
			edits: []edit{{config, "  client_listen: 127.0.0.1:4222\n", ""}},
			want:  []string{"cluster.client_listen is not set: smarteye drain (preStop) cannot reach the node"}},
		{name: "cluster mode off",
			edits: []edit{{config, "mode: embedded", "mode: \"off\""}},
			want:  []string{`cluster.mode is "off", want embedded`}},
		{name: "mode overridden by the environment",
			edits: []edit{{sts, "          ports:\n", "            - name: SMARTEYE_CLUSTER_MODE\n              value: external\n          ports:\n"}},
			want:  []string{`cluster.mode is "external", want embedded`}},
		{name: "recordings on a ReadWriteOnce claim",
			edits: []edit{{"recordings-pvc.yaml", "accessModes: [ReadWriteMany]", "accessModes: [ReadWriteOnce]"}},
			want:  []string{"the recordings at /srv/smarteye/recordings are not on a ReadWriteMany PersistentVolumeClaim"}},
		{name: "the data directory not on a claim template",
			edits: []edit{{sts, "              mountPath: /var/lib/smarteye\n", "              mountPath: /var/lib/smarteye-data\n"}},
			want:  []string{"--data-dir /var/lib/smarteye is not a volumeClaimTemplate's volume"}},
		{name: "a secret the kustomization lacks",
			edits: []edit{{sts, "                  name: smarteye-database\n", "                  name: smarteye-db\n"}},
			want:  []string{"comes from Secret smarteye-db, which the kustomization does not make"}},
		{name: "short ingress timeouts",
			edits: []edit{{"ingress.yaml", `proxy-read-timeout: "3600"`, `proxy-read-timeout: "60"`}},
			want:  []string{"no read timeout of an hour or more"}},
		{name: "an unknown kind",
			edits: []edit{{"kustomization.yaml", "  - ingress.yaml\n", "  - ingress.yaml\n  - extra.yaml\n"},
				{"extra.yaml", "", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: smarteye\n"}},
			want: []string{"ServiceAccount smarteye: v1 is not a kind these checks know"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, k8sDir, t.TempDir())
			if err := CheckKustomize(dir, settingsFile); err != nil {
				t.Fatalf("the unbroken copy: %v", err)
			}
			apply(t, dir, tc.edits...)
			err := CheckKustomize(dir, settingsFile)
			if len(tc.want) == 0 { // an edit that must stay acceptable
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantProblem(t, err, tc.want...)
		})
	}
}
