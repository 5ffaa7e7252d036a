{{/* Names are truncated to 63 characters: the DNS label limit Kubernetes applies to object names and labels. */}}
{{- define "kubesentry.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kubesentry.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kubesentry.labels" -}}
{{ include "kubesentry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: kubesentry
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kubesentry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubesentry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kubesentry.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The environment variable holding the pod IP (downward API status.podIP). The agent's listen addresses are
${POD_IP}:<port>, expanded by the agent at start: the endpoints answer on the pod IP only, never on 0.0.0.0.
*/}}
{{- define "kubesentry.podIpEnv" -}}POD_IP{{- end -}}

{{/* Container paths the agent is configured with; hostMounts.* only choose the node side. */}}
{{- define "kubesentry.paths.state" -}}/var/lib/kubesentry{{- end -}}
{{- define "kubesentry.paths.config" -}}/etc/kubesentry{{- end -}}
{{- define "kubesentry.paths.tls" -}}/etc/kubesentry/tls{{- end -}}
{{- define "kubesentry.paths.rules" -}}/etc/kubesentry-rules{{- end -}}

{{/* The rules ConfigMap's name; empty when the agent has no rules file (rulesConfigMap in values.yaml). */}}
{{- define "kubesentry.rulesConfigMap" -}}
{{- if .Values.rulesConfigMap.create -}}
{{- default (printf "%s-rules" (include "kubesentry.fullname" .) | trunc 63 | trimSuffix "-") .Values.rulesConfigMap.name -}}
{{- else -}}
{{- .Values.rulesConfigMap.name -}}
{{- end -}}
{{- end -}}

{{/*
The agent's config file. Built as a dict and serialised, so extraConfig can override any key and the result is
always valid YAML; test/deploy-chart.test.ts checks it against the agent's own config schema.
*/}}
{{- define "kubesentry.agentConfig" -}}
{{- $otlp := dict "endpoint" .Values.otlp.endpoint "insecure" .Values.otlp.insecure "headers" .Values.otlp.headers "incidentQuietWindowMs" (int .Values.otlp.incidentQuietWindowMs) -}}
{{- if .Values.otlp.tls.enabled -}}
{{- if not (hasPrefix "https://" .Values.otlp.endpoint) -}}
{{- fail (printf "otlp.tls.enabled needs an https:// otlp.endpoint, got %q" .Values.otlp.endpoint) -}}
{{- end -}}
{{- $_ := set $otlp "caFile" (printf "%s/ca.crt" (include "kubesentry.paths.tls" .)) -}}
{{- if .Values.otlp.tls.clientCertificate -}}
{{- $_ := set $otlp "certFile" (printf "%s/tls.crt" (include "kubesentry.paths.tls" .)) -}}
{{- $_ := set $otlp "keyFile" (printf "%s/tls.key" (include "kubesentry.paths.tls" .)) -}}
{{- end -}}
{{- end -}}
{{- $config := dict
  "clusterName" .Values.clusterName
  "stateDir" (include "kubesentry.paths.state" .)
  "logLevel" .Values.agent.logLevel
  "console" (dict "enabled" true "statusIntervalMs" 0 "minSeverity" .Values.agent.consoleMinSeverity)
  "kernel" (dict "ringBytes" (int .Values.agent.ringBytes) "btfPath" "/sys/kernel/btf/vmlinux" "tracefsPath" "/sys/kernel/tracing")
  "processTable" (dict "maxEntries" (int .Values.agent.processTableMaxEntries))
  "otlp" $otlp
  "spool" (dict "maxBytes" (int .Values.otlp.spoolMaxBytes))
  "kubernetes" (dict "enabled" "on" "labelAllowList" .Values.agent.podLabelAllowList)
  "health" (dict "listen" (printf "${%s}:%d" (include "kubesentry.podIpEnv" .) (int .Values.health.port)))
-}}
{{- if include "kubesentry.rulesConfigMap" . -}}
{{- $_ := set $config "rulesFile" (printf "%s/%s" (include "kubesentry.paths.rules" .) .Values.rulesConfigMap.key) -}}
{{- end -}}
{{- if .Values.prometheus.enabled -}}
{{- $_ := set $config "prometheus" (dict "listen" (printf "${%s}:%d" (include "kubesentry.podIpEnv" .) (int .Values.prometheus.port))) -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $config (deepCopy .Values.agent.extraConfig)) -}}
{{- end -}}

{{- /* One peer selecting pods by namespace AND pod labels; both in one peer means "these pods in these namespaces". */}}
{{- define "kubesentry.networkPeer" -}}
{{- $peer := dict -}}
{{- with .namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end -}}
{{- with .podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end -}}
{{- if $peer }}{{ toYaml $peer }}{{ end -}}
{{- end -}}
