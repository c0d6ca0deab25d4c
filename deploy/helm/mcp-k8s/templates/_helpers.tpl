{{- define "mcp-k8s.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mcp-k8s.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "mcp-k8s.labels" -}}
{{ include "mcp-k8s.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mcp-k8s.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mcp-k8s.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The server's flags, one per line, from the values (the same flags `mcp-k8s rbac` reads). */}}
{{- define "mcp-k8s.args" -}}
{{- $v := .Values -}}
- watch
- --http=0.0.0.0:{{ $v.ports.http }}
- --health-port={{ $v.ports.health }}
- --health-host=0.0.0.0
{{- if not $v.watch }}
{{- fail "watch: list at least one custom resource type to cache (plural.group/version), e.g. --set 'watch={widgets.example.com/v1}'" }}
{{- end }}
{{- range $v.watch }}
- --watch={{ . }}
{{- end }}
{{- with $v.allowedNamespaces }}
- --allowed-namespaces={{ join "," . }}
{{- end }}
{{- if $v.readOnly }}
- --read-only
{{- end }}
{{- if $v.allowSecretValues }}
- --allow-secret-values
{{- end }}
{{- with $v.denyResources }}
- --deny-resources={{ join "," . }}
{{- end }}
{{- if eq $v.auth.mode "kubernetes" }}
- --auth=kubernetes
{{- range $v.auth.audiences }}
- --auth-audience={{ . }}
{{- end }}
{{- if $v.auth.impersonate }}
- --impersonate
{{- end }}
{{- else if eq $v.auth.mode "token-file" }}
- --auth=token-file
- --auth-token-file=/etc/mcp-k8s/auth/{{ $v.auth.tokenFile.key }}
{{- else if eq $v.auth.mode "none" }}
- --insecure-no-auth
{{- else }}
{{- fail (printf "auth.mode must be kubernetes, token-file or none, not %q" $v.auth.mode) }}
{{- end }}
- --log-format={{ $v.logFormat }}
- --log-level={{ $v.logLevel }}
{{- range $v.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
