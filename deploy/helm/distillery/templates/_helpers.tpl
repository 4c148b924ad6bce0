{{- define "distillery.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "distillery.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "streams") */}}
{{- define "distillery.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "distillery.secretName" -}}
{{- if .Values.existingSecret -}}
{{- .Values.existingSecret -}}
{{- else -}}
{{- include "distillery.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "distillery.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* What every worker's pod carries: config and secret checksums (pods roll on change). */}}
{{- define "distillery.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{- define "distillery.env" -}}
- name: KAFKA_BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required: the bootstrap address of your Kafka cluster" .Values.kafka.bootstrapServers | quote }}
{{- with .Values.kafka.topicPrefix }}
- name: DISTILLERY_TOPIC_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kafka.securityProtocol }}
- name: KAFKA_SECURITY_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kafka.saslMechanism }}
- name: KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "distillery.secretName" $ }}
      key: kafka-sasl-password
{{- end }}
{{- with .Values.kafka.saslUsername }}
- name: KAFKA_SASL_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if .Values.kafka.caSecret }}
- name: KAFKA_SSL_CAFILE
  value: /var/run/secrets/kafka-ca/ca.pem
{{- end }}
- name: DISTILLERY_CONFIG
  value: /etc/distillery/distillery.toml
- name: DISTILLERY_DATA_DIR
  value: /data
- name: DISTILLERY_ARTIFACTS
  value: {{ default "/artifacts" .Values.artifacts.uri | quote }}
- name: DISTILLERY_API_KEYS_FILE
  value: /var/run/secrets/distillery/api-keys
- name: OPENAI_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "distillery.secretName" . }}
      key: openai-api-key
      optional: true
{{- with .Values.openai.baseUrl }}
- name: OPENAI_BASE_URL
  value: {{ . | quote }}
{{- end }}
- name: HOME
  value: /tmp
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Mounts every worker has: the config, the keys, its data folder and the artifact store. */}}
{{- define "distillery.mounts" -}}
- name: config
  mountPath: /etc/distillery
  readOnly: true
- name: keys
  mountPath: /var/run/secrets/distillery
  readOnly: true
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  mountPath: /var/run/secrets/kafka-ca
  readOnly: true
{{- end }}
{{- if not .Values.artifacts.uri }}
- name: artifacts
  mountPath: /artifacts
{{- end }}
{{- end -}}

{{/* The volumes behind those mounts: (dict "root" $ "dataVolume" .Values.streams.dataVolume) */}}
{{- define "distillery.volumes" -}}
- name: config
  configMap:
    name: {{ include "distillery.fullname" .root }}
- name: keys
  secret:
    secretName: {{ include "distillery.secretName" .root }}
    items:
      - key: api-keys
        path: api-keys
- name: data
  emptyDir:
    sizeLimit: {{ .dataVolume.sizeLimit }}
- name: tmp
  emptyDir: {}
{{- if .root.Values.kafka.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .root.Values.kafka.caSecret }}
    items:
      - key: ca.pem
        path: ca.pem
{{- end }}
{{- if not .root.Values.artifacts.uri }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ include "distillery.fullname" .root }}-artifacts
{{- end }}
{{- end -}}

{{/* Startup, readiness and liveness probes on a port: (dict "root" $ "port" "health") */}}
{{- define "distillery.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  {{- toYaml .root.Values.probes.startup | nindent 2 }}
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}}
  {{- toYaml .root.Values.probes.readiness | nindent 2 }}
livenessProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  {{- toYaml .root.Values.probes.liveness | nindent 2 }}
{{- end -}}

{{/* Scheduling and pod-level settings of a component: (dict "root" $ "c" .Values.streams) */}}
{{- define "distillery.podSpec" -}}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
