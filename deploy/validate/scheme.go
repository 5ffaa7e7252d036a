package main

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// newScheme registers the built-in API groups a workload chart can reasonably render. A kind outside them is
// reported as unregistered rather than waved through.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		batchv1.AddToScheme,
		rbacv1.AddToScheme,
		networkingv1.AddToScheme,
		policyv1.AddToScheme,
		schedulingv1.AddToScheme,
		storagev1.AddToScheme,
		autoscalingv2.AddToScheme,
		admissionregistrationv1.AddToScheme,
	} {
		utilruntime.Must(add(scheme))
	}
	return scheme
}
