package validate

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// Rendered holds the objects a kustomization renders, each decoded
// strictly into its typed form.
type Rendered struct {
	StatefulSets []*appsv1.StatefulSet
	Services     map[string]*corev1.Service
	ConfigMaps   map[string]*corev1.ConfigMap
	Secrets      map[string]*corev1.Secret
	Claims       map[string]*corev1.PersistentVolumeClaim
	Budgets      []*policyv1.PodDisruptionBudget
	Ingresses    []*networkingv1.Ingress
}

// Render builds the kustomization in dir (as kubectl apply -k would, from
// the disk, nothing loaded from outside dir) and decodes every object
// strictly: an unknown or misspelt field, a duplicate key or a kind this
// package does not know is an error.
func Render(dir string) (*Rendered, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	r := &Rendered{
		Services:   map[string]*corev1.Service{},
		ConfigMaps: map[string]*corev1.ConfigMap{},
		Secrets:    map[string]*corev1.Secret{},
		Claims:     map[string]*corev1.PersistentVolumeClaim{},
	}
	var errs []error
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		gvk := res.GetGvk()
		id := fmt.Sprintf("%s %s", gvk.Kind, res.GetName())
		var obj interface{ GetName() string }
		switch gvk.ApiVersion() + " " + gvk.Kind {
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			r.StatefulSets, obj = append(r.StatefulSets, o), o
		case "v1 Service":
			o := &corev1.Service{}
			r.Services[res.GetName()], obj = o, o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			r.ConfigMaps[res.GetName()], obj = o, o
		case "v1 Secret":
			o := &corev1.Secret{}
			r.Secrets[res.GetName()], obj = o, o
		case "v1 PersistentVolumeClaim":
			o := &corev1.PersistentVolumeClaim{}
			r.Claims[res.GetName()], obj = o, o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			r.Budgets, obj = append(r.Budgets, o), o
		case "networking.k8s.io/v1 Ingress":
			o := &networkingv1.Ingress{}
			r.Ingresses, obj = append(r.Ingresses, o), o
		default:
			errs = append(errs, fmt.Errorf("%s: %s is not a kind these checks know", id, gvk.ApiVersion()))
			continue
		}
		if err := decodeStrict(y, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	return r, errors.Join(errs...)
}

// decodeStrict decodes a YAML object into its typed form: a duplicate
// key, an unknown field (named by its path, spec.template.spec.…) or a
// value of the wrong type is an error.
func decodeStrict(y []byte, obj any) error {
	j, err := sigsyaml.YAMLToJSONStrict(y)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// CheckKustomize renders the kustomization in dir and reports everything
// wrong with it: the StatefulSet of smarteye nodes must name a headless
// Service that publishes not-ready pods as its serviceName; Services,
// PodDisruptionBudget and StatefulSet selectors must match the pods; the
// probes must check /healthz and /readyz on the named HTTP port; preStop
// must run smarteye drain; every pod must take its cluster.node from its
// name and route to every replica's stable DNS name; and every SMARTEYE_
// variable and every key of the mounted configuration file must be
// documented in settingsFile.
func CheckKustomize(dir, settingsFile string) error {
	settings, err := LoadSettings(settingsFile)
	if err != nil {
		return err
	}
	r, err := Render(dir)
	if err != nil {
		return err
	}
	c := kubeCheck{r: r, settings: settings}
	c.run()
	return errors.Join(c.errs...)
}

type kubeCheck struct {
	r        *Rendered
	settings *Settings
	errs     []error
}

func (c *kubeCheck) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

func (c *kubeCheck) run() {
	if len(c.r.StatefulSets) != 1 {
		c.fail("want 1 StatefulSet, found %d", len(c.r.StatefulSets))
		if len(c.r.StatefulSets) == 0 {
			return
		}
	}
	sts := c.r.StatefulSets[0]
	pod := &sts.Spec.Template
	podLabels := labels.Set(pod.Labels)
	if len(podLabels) == 0 {
		c.fail("StatefulSet %s: the pod template has no labels", sts.Name)
	}
	if sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector); err != nil || sts.Spec.Selector == nil || sel.Empty() || !sel.Matches(podLabels) {
		c.fail("StatefulSet %s: its selector does not match its pod template's labels %v", sts.Name, pod.Labels)
	}
	replicas := 1
	if sts.Spec.Replicas != nil {
		replicas = int(*sts.Spec.Replicas)
	}
	if replicas < 3 {
		c.fail("StatefulSet %s: %d replicas, a cluster needs 3", sts.Name, replicas)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		c.fail("StatefulSet %s: podManagementPolicy %q, want Parallel (the cluster forms only with its peers up)", sts.Name, sts.Spec.PodManagementPolicy)
	}

	// Services and the budget select the pods.
	for _, name := range sortedKeys(c.r.Services) {
		svc := c.r.Services[name]
		if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
			c.fail("Service %s: its selector %v does not match the pods' labels %v", name, svc.Spec.Selector, pod.Labels)
		}
	}
	if len(c.r.Budgets) == 0 {
		c.fail("no PodDisruptionBudget")
	}
	for _, pdb := range c.r.Budgets {
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || pdb.Spec.Selector == nil || sel.Empty() || !sel.Matches(podLabels) {
			c.fail("PodDisruptionBudget %s: its selector does not match the pods' labels %v", pdb.Name, pod.Labels)
		}
		if mu := pdb.Spec.MaxUnavailable; mu == nil || *mu != intstr.FromInt32(1) {
			c.fail("PodDisruptionBudget %s: maxUnavailable is not 1", pdb.Name)
		}
	}

	// Kubernetes sets <SERVICE>_SERVICE_HOST and the like for every
	// Service with a cluster IP; for Services named smarteye… those are
	// SMARTEYE_ variables that are no settings, which smarteye refuses.
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		for _, name := range sortedKeys(c.r.Services) {
			if c.r.Services[name].Spec.ClusterIP == corev1.ClusterIPNone {
				continue
			}
			if env := strings.ToUpper(strings.ReplaceAll(name, "-", "_")); strings.HasPrefix(env+"_", EnvPrefix) {
				c.fail("StatefulSet %s: enableServiceLinks is not false, so Service %s sets %s_SERVICE_HOST and the like, which smarteye refuses", sts.Name, name, env)
			}
		}
	}

	headless := c.r.Services[sts.Spec.ServiceName]
	switch {
	case headless == nil:
		c.fail("StatefulSet %s: serviceName %q is no Service", sts.Name, sts.Spec.ServiceName)
	case headless.Spec.ClusterIP != corev1.ClusterIPNone:
		c.fail("Service %s (the StatefulSet's serviceName) is not headless (clusterIP: None)", headless.Name)
	case !headless.Spec.PublishNotReadyAddresses:
		c.fail("Service %s (the StatefulSet's serviceName) does not publishNotReadyAddresses: pods cannot find each other before they are ready", headless.Name)
	}

	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 60 {
		c.fail("StatefulSet %s: terminationGracePeriodSeconds under 60 leaves smarteye drain no time", sts.Name)
	}

	var ctr *corev1.Container
	for i := range pod.Spec.Containers {
		cmd := append(append([]string{}, pod.Spec.Containers[i].Command...), pod.Spec.Containers[i].Args...)
		if len(cmd) >= 2 && path.Base(cmd[0]) == "smarteye" && cmd[1] == "serve" {
			ctr = &pod.Spec.Containers[i]
		}
	}
	if ctr == nil {
		c.fail("StatefulSet %s: no container runs smarteye serve", sts.Name)
		return
	}
	c.checkContainer(sts, ctr, replicas, headless)
	c.checkIngresses()
}

func (c *kubeCheck) checkContainer(sts *appsv1.StatefulSet, ctr *corev1.Container, replicas int, headless *corev1.Service) {
	pod := &sts.Spec.Template
	where := fmt.Sprintf("StatefulSet %s container %s", sts.Name, ctr.Name)
	cmd := append(append([]string{}, ctr.Command...), ctr.Args...)

	// The environment: documented keys only, cluster.node from the pod.
	env := map[string]string{}
	var names []string
	for _, e := range ctr.Env {
		names = append(names, e.Name)
		env[e.Name] = e.Value
	}
	for _, src := range ctr.EnvFrom {
		var keys []string
		switch {
		case src.SecretRef != nil && c.r.Secrets[src.SecretRef.Name] != nil:
			s := c.r.Secrets[src.SecretRef.Name]
			keys = append(sortedKeys(s.Data), sortedKeys(s.StringData)...)
		case src.ConfigMapRef != nil && c.r.ConfigMaps[src.ConfigMapRef.Name] != nil:
			keys = sortedKeys(c.r.ConfigMaps[src.ConfigMapRef.Name].Data)
		}
		for _, k := range keys {
			names = append(names, src.Prefix+k)
		}
	}
	c.errs = append(c.errs, c.settings.checkEnvNames(where, names)...)
	nodeFromPod := false
	for _, e := range ctr.Env {
		if e.Name == "SMARTEYE_CLUSTER_NODE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			nodeFromPod = true
		}
	}
	if !nodeFromPod {
		c.fail("%s: SMARTEYE_CLUSTER_NODE does not come from the pod's name (valueFrom.fieldRef.fieldPath: metadata.name)", where)
	}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			s := c.r.Secrets[ref.Name]
			if s == nil && (ref.Optional == nil || !*ref.Optional) {
				c.fail("%s: %s comes from Secret %s, which the kustomization does not make (create it first)", where, e.Name, ref.Name)
			} else if s != nil && !hasKey(s, ref.Key) {
				c.fail("%s: %s comes from key %s of Secret %s, which has no such key", where, e.Name, ref.Key, ref.Name)
			}
		}
	}

	// The configuration file, from its ConfigMap.
	cfg := c.configFile(pod, ctr, where, flagValue(cmd, "-c"))
	setting := func(key string) (string, []string) {
		envName := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if v, ok := env[envName]; ok {
			return v, splitList(v)
		}
		v, _ := lookupDoc(cfg, key)
		switch v := v.(type) {
		case nil:
			return "", nil
		case []any:
			var l []string
			for _, e := range v {
				l = append(l, fmt.Sprint(e))
			}
			return strings.Join(l, ","), l
		default:
			return fmt.Sprint(v), []string{fmt.Sprint(v)}
		}
	}
	if mode, _ := setting("cluster.mode"); mode != "embedded" {
		c.fail("%s: cluster.mode is %q, want embedded", where, mode)
	}
	if r, _ := setting("cluster.replicas"); r != "1" && r != "3" && r != "5" {
		c.fail("%s: cluster.replicas is %q, want 1, 3 or 5", where, r)
	} else if n, _ := strconv.Atoi(r); n > replicas {
		c.fail("%s: cluster.replicas %d is more than the StatefulSet's %d replicas", where, n, replicas)
	}

	// Ports and probes.
	httpPort := namedPort(ctr, "http")
	if httpPort == nil {
		c.fail("%s: no port named http", where)
	} else if _, p, err := splitHostPort(flagValue(cmd, "--http")); err != nil || p != strconv.Itoa(int(httpPort.ContainerPort)) {
		c.fail("%s: --http %q is not on the http port %d", where, flagValue(cmd, "--http"), httpPort.ContainerPort)
	}
	probe := func(kind string, p *corev1.Probe, paths ...string) {
		if p == nil || p.HTTPGet == nil {
			c.fail("%s: no HTTP %s probe", where, kind)
			return
		}
		if !slices.Contains(paths, p.HTTPGet.Path) {
			c.fail("%s: the %s probe checks %q, want %s", where, kind, p.HTTPGet.Path, strings.Join(paths, " or "))
		}
		if httpPort != nil && !(p.HTTPGet.Port.String() == "http" || p.HTTPGet.Port.IntValue() == int(httpPort.ContainerPort)) {
			c.fail("%s: the %s probe is on port %s, not the http port", where, kind, p.HTTPGet.Port.String())
		}
	}
	probe("liveness", ctr.LivenessProbe, "/healthz")
	probe("readiness", ctr.ReadinessProbe, "/readyz")
	probe("startup", ctr.StartupProbe, "/healthz", "/readyz")

	// preStop hands the pod's work over: smarteye drain reaches the node
	// as a NATS client.
	if cl, _ := setting("cluster.client_listen"); cl == "" {
		c.fail("%s: cluster.client_listen is not set: smarteye drain (preStop) cannot reach the node", where)
	} else if _, _, err := splitHostPort(cl); err != nil {
		c.fail("%s: cluster.client_listen: %v", where, err)
	}
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Exec == nil {
		c.fail("%s: no preStop exec hook (smarteye drain)", where)
	} else if pre := ctr.Lifecycle.PreStop.Exec.Command; len(pre) < 2 || pre[0] != cmd[0] || pre[1] != "drain" {
		c.fail("%s: preStop runs %q, want %s drain", where, pre, cmd[0])
	} else if flagValue(pre, "-c") != flagValue(cmd, "-c") {
		c.fail("%s: preStop's drain reads %q, serve reads %q", where, flagValue(pre, "-c"), flagValue(cmd, "-c"))
	}
	if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() {
		c.fail("%s: no cpu and memory requests", where)
	}

	// Routes: one per replica, each its stable name under the headless Service.
	_, routes := setting("cluster.routes")
	listen, _ := setting("cluster.listen")
	_, routePort, err := splitHostPort(listen)
	if err != nil {
		c.fail("%s: cluster.listen: %v", where, err)
	}
	if p := namedPort(ctr, "routes"); p == nil || strconv.Itoa(int(p.ContainerPort)) != routePort {
		c.fail("%s: no port named routes on cluster.listen's port %s", where, routePort)
	}
	if headless != nil {
		want := map[string]bool{}
		for i := range replicas {
			want[fmt.Sprintf("%s-%d.%s", sts.Name, i, headless.Name)] = false
		}
		for _, r := range routes {
			u, err := url.Parse(r)
			if err != nil || u.Scheme != "nats" {
				c.fail("%s: cluster.routes: %q is not a nats:// URL", where, r)
				continue
			}
			if u.Port() != routePort {
				c.fail("%s: cluster.routes: %s is not on the route port %s", where, r, routePort)
			}
			host := stableName(u.Hostname(), headless)
			if _, ok := want[host]; !ok {
				c.fail("%s: cluster.routes: %s is no replica's stable name (<pod>.%s)", where, r, headless.Name)
			}
			want[host] = true
		}
		for _, h := range sortedKeys(want) {
			if !want[h] {
				c.fail("%s: cluster.routes %v does not name %s", where, routes, h)
			}
		}
		if !servesPort(headless, ctr, routePort) {
			c.fail("Service %s: no port to the route port %s", headless.Name, routePort)
		}
	}

	// Volumes: the data directory from the claim templates, the recordings
	// from a ReadWriteMany claim.
	if dataDir := flagValue(cmd, "--data-dir"); dataDir == "" {
		c.fail("%s: no --data-dir", where)
	} else if m := podMountAt(ctr, dataDir); m == nil || !slices.ContainsFunc(sts.Spec.VolumeClaimTemplates, func(t corev1.PersistentVolumeClaim) bool { return t.Name == m.Name }) {
		c.fail("%s: --data-dir %s is not a volumeClaimTemplate's volume", where, dataDir)
	}
	if dir, _ := setting("video.recording.dir"); dir == "" {
		c.fail("%s: video.recording.dir is not set", where)
	} else if m := podMountAt(ctr, dir); m == nil {
		c.fail("%s: nothing is mounted at video.recording.dir %s", where, dir)
	} else if claim := c.claimOf(pod, m.Name); claim == nil || !slices.Contains(claim.Spec.AccessModes, corev1.ReadWriteMany) {
		c.fail("%s: the recordings at %s are not on a ReadWriteMany PersistentVolumeClaim", where, dir)
	}
}

// configFile returns the parsed configuration file at file, from the
// ConfigMap mounted there, and checks that its keys are documented.
func (c *kubeCheck) configFile(pod *corev1.PodTemplateSpec, ctr *corev1.Container, where, file string) map[string]any {
	if file == "" {
		c.fail("%s: no -c configuration file", where)
		return nil
	}
	var cmName, key string
	for _, m := range ctr.VolumeMounts {
		var k string
		switch {
		case m.SubPath == "" && path.Clean(m.MountPath) == path.Dir(file):
			k = path.Base(file)
		case m.SubPath != "" && path.Clean(m.MountPath) == file:
			k = m.SubPath
		default:
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				cmName, key = v.ConfigMap.Name, k
				for _, it := range v.ConfigMap.Items {
					if it.Path == k {
						key = it.Key
					}
				}
			}
		}
	}
	cm := c.r.ConfigMaps[cmName]
	if cm == nil {
		c.fail("%s: no ConfigMap is mounted at %s", where, file)
		return nil
	}
	text, ok := cm.Data[key]
	if !ok {
		c.fail("ConfigMap %s: no key %s (mounted at %s)", cmName, key, file)
		return nil
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		c.fail("ConfigMap %s key %s: %v", cmName, key, err)
		return nil
	}
	if err := c.settings.CheckConfig("ConfigMap "+cmName+" "+key, doc); err != nil {
		c.errs = append(c.errs, err)
	}
	return doc
}

func (c *kubeCheck) claimOf(pod *corev1.PodTemplateSpec, volume string) *corev1.PersistentVolumeClaim {
	for _, v := range pod.Spec.Volumes {
		if v.Name == volume && v.PersistentVolumeClaim != nil {
			return c.r.Claims[v.PersistentVolumeClaim.ClaimName]
		}
	}
	return nil
}

// checkIngresses: backends are Services of the kustomization, and the
// WebSockets get long timeouts.
func (c *kubeCheck) checkIngresses() {
	for _, ing := range c.r.Ingresses {
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				b := p.Backend.Service
				if b == nil {
					continue
				}
				svc := c.r.Services[b.Name]
				if svc == nil {
					c.fail("Ingress %s: backend Service %s does not exist", ing.Name, b.Name)
					continue
				}
				if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool {
					return (b.Port.Name != "" && sp.Name == b.Port.Name) || (b.Port.Number != 0 && sp.Port == b.Port.Number)
				}) {
					c.fail("Ingress %s: Service %s has no port %s%d", ing.Name, b.Name, b.Port.Name, b.Port.Number)
				}
			}
		}
		long := false
		for k, v := range ing.Annotations {
			if n, err := strconv.Atoi(v); err == nil && strings.Contains(k, "read-timeout") && n >= 3600 {
				long = true
			}
		}
		if !long {
			c.fail("Ingress %s: no read timeout of an hour or more for the WebSockets", ing.Name)
		}
	}
}

func hasKey(s *corev1.Secret, key string) bool {
	_, a := s.Data[key]
	_, b := s.StringData[key]
	return a || b
}

func namedPort(ctr *corev1.Container, name string) *corev1.ContainerPort {
	for i := range ctr.Ports {
		if ctr.Ports[i].Name == name {
			return &ctr.Ports[i]
		}
	}
	return nil
}

func podMountAt(ctr *corev1.Container, dir string) *corev1.VolumeMount {
	for i := range ctr.VolumeMounts {
		if path.Clean(ctr.VolumeMounts[i].MountPath) == path.Clean(dir) {
			return &ctr.VolumeMounts[i]
		}
	}
	return nil
}

// servesPort: the Service has a port to the container's port number.
func servesPort(svc *corev1.Service, ctr *corev1.Container, port string) bool {
	for _, sp := range svc.Spec.Ports {
		target := sp.TargetPort
		if target.IntValue() == 0 && target.StrVal == "" {
			target = intstr.FromInt32(sp.Port)
		}
		if target.Type == intstr.String {
			if p := namedPort(ctr, target.StrVal); p != nil && strconv.Itoa(int(p.ContainerPort)) == port {
				return true
			}
		} else if strconv.Itoa(target.IntValue()) == port {
			return true
		}
	}
	return false
}

// stableName trims the namespace and cluster domain off a pod's DNS name
// under the headless Service (smarteye-0.smarteye-routes.ns.svc.cluster.local).
func stableName(host string, headless *corev1.Service) string {
	pod, rest, _ := strings.Cut(host, ".")
	svc, rest, _ := strings.Cut(rest, ".")
	if rest != "" {
		ns, domain, _ := strings.Cut(rest, ".")
		if headless.Namespace != "" && ns != headless.Namespace {
			return host
		}
		if domain != "" && domain != "svc" && !strings.HasPrefix(domain, "svc.") {
			return host
		}
	}
	return pod + "." + svc
}
