package main

import (
	"encoding/json"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// podSecurityVerdict is one workload judged at one Pod Security level by the upstream admission checks.
type podSecurityVerdict struct {
	Workload string   `json:"workload"`
	Level    string   `json:"level"`
	Allowed  bool     `json:"allowed"`
	Reasons  []string `json:"reasons,omitempty"`
	// Enforced is true for the level its namespace's pod-security.kubernetes.io/enforce label names.
	Enforced bool `json:"enforced"`
}

// checkPodSecurity evaluates every pod template in the decoded objects at each Pod Security level, with the same
// checks the API server's PodSecurity admission runs. A workload is rejected when its namespace (a Namespace in
// the same documents) enforces a level it does not meet.
func checkPodSecurity(objects []runtime.Object, out io.Writer) (rejected int, err error) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return 0, err
	}
	enforced := map[string]psaapi.LevelVersion{}
	for _, object := range objects {
		if ns, ok := object.(*corev1.Namespace); ok {
			policy, err := psaapi.PolicyToEvaluate(ns.Labels, psaapi.Policy{})
			if len(err) > 0 {
				return 0, fmt.Errorf("namespace %s: %v", ns.Name, err.ToAggregate())
			}
			enforced[ns.Name] = policy.Enforce
		}
	}
	encoder := json.NewEncoder(out)
	for _, object := range objects {
		meta, spec, kind := podTemplateOf(object)
		if spec == nil {
			continue
		}
		namespaceLevel, hasNamespace := enforced[meta.Namespace]
		for _, level := range []psaapi.Level{psaapi.LevelPrivileged, psaapi.LevelBaseline, psaapi.LevelRestricted} {
			result := policy.AggregateCheckResults(evaluator.EvaluatePod(psaapi.LevelVersion{Level: level, Version: psaapi.LatestVersion()}, meta, spec))
			verdict := podSecurityVerdict{
				Workload: fmt.Sprintf("%s %s/%s", kind, meta.Namespace, meta.Name),
				Level:    string(level),
				Allowed:  result.Allowed,
				Enforced: hasNamespace && namespaceLevel.Level == level,
			}
			for i, reason := range result.ForbiddenReasons {
				verdict.Reasons = append(verdict.Reasons, reason+": "+result.ForbiddenDetails[i])
			}
			if verdict.Enforced && !verdict.Allowed {
				rejected++
			}
			if err := encoder.Encode(verdict); err != nil {
				return rejected, err
			}
		}
	}
	return rejected, nil
}

// podTemplateOf returns the pod metadata (namespace from the owning object) and spec of a workload, or nil.
func podTemplateOf(object runtime.Object) (*metav1.ObjectMeta, *corev1.PodSpec, string) {
	withNamespace := func(owner metav1.ObjectMeta, template corev1.PodTemplateSpec) *metav1.ObjectMeta {
		meta := template.ObjectMeta.DeepCopy()
		meta.Name, meta.Namespace = owner.Name, owner.Namespace
		return meta
	}
	switch o := object.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta, &o.Spec, "Pod"
	case *appsv1.DaemonSet:
		return withNamespace(o.ObjectMeta, o.Spec.Template), &o.Spec.Template.Spec, "DaemonSet"
	case *appsv1.Deployment:
		return withNamespace(o.ObjectMeta, o.Spec.Template), &o.Spec.Template.Spec, "Deployment"
	case *appsv1.StatefulSet:
		return withNamespace(o.ObjectMeta, o.Spec.Template), &o.Spec.Template.Spec, "StatefulSet"
	case *batchv1.Job:
		return withNamespace(o.ObjectMeta, o.Spec.Template), &o.Spec.Template.Spec, "Job"
	}
	return nil, nil, ""
}
