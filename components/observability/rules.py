"""The platform's own alert rules (GPU, Kubernetes, Prometheus), each with a runbook."""

from __future__ import annotations

from mlops_platform.components.observability.alerting import Alert, Severity

PLATFORM_RULES = "platform-alerts"
"""Name of the PrometheusRule that holds them."""


def platform_alerts(gpu_idle_hours: int) -> list[tuple[str, list[Alert]]]:
    """The platform's own alert rules, grouped as they are deployed."""
    return [
        (
            "gpu",
            [
                Alert(
                    "GpuIdle",
                    "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL) < 5",
                    f"{gpu_idle_hours}h",
                    Severity.WARNING,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} has been idle for "
                    + f"{gpu_idle_hours}h",
                    "A GPU node is paid for but below 5% utilisation. Scale the workload down or let the pool scale to zero.",
                    "gpu-idle",
                ),
                Alert(
                    "GpuXidError",
                    # The gauge holds the code of the *last* XID, so its value stays non-zero forever
                    # after one error; a change of it is a new error. It fires for the 10m window.
                    "max by (Hostname, gpu) (changes(DCGM_FI_DEV_XID_ERRORS[10m])) > 0",
                    "0m",
                    Severity.WARNING,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported a new XID error",
                    "The NVIDIA driver reported a new XID error in the last 10 minutes (DCGM_FI_DEV_XID_ERRORS holds"
                    " its code): an application fault, a driver problem or failing hardware.",
                    "gpu-xid-errors",
                ),
                Alert(
                    "GpuHealthDegraded",
                    "max by (Hostname, gpu) (DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS) > 0"
                    " or max by (Hostname, gpu) (DCGM_FI_DEV_ROW_REMAP_FAILURE) > 0",
                    "5m",
                    Severity.CRITICAL,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} has uncorrectable memory errors",
                    "DCGM reports uncorrectable remapped rows or a row-remap failure: the GPU's memory is failing. Drain the node.",
                    "gpu-health",
                ),
                Alert(
                    "GpuTemperatureHigh",
                    "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP) > 85",
                    "10m",
                    Severity.WARNING,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is at {{ $value }} C",
                    "A GPU has run above 85 C for 10 minutes and will throttle.",
                    "gpu-temperature",
                ),
                Alert(
                    "GpuTelemetryMissing",
                    '(count(kube_node_labels{label_nvidia_com_gpu_present="true"}) or vector(0))'
                    " > (count(count by (Hostname) (DCGM_FI_DEV_GPU_UTIL)) or vector(0))",
                    "15m",
                    Severity.WARNING,
                    "GPU nodes are running without DCGM telemetry",
                    "Some GPU nodes export no DCGM metrics: the exporter is not scheduled there or is not scraped.",
                    "gpu-telemetry-missing",
                ),
            ],
        ),
        (
            "kubernetes",
            [
                Alert(
                    "NodeNotReady",
                    'kube_node_status_condition{condition="Ready", status="true"} == 0',
                    "5m",
                    Severity.CRITICAL,
                    "Node {{ $labels.node }} is not ready",
                    "The kubelet on a node has not reported ready for 5 minutes; its pods are being evicted.",
                    "node-not-ready",
                ),
                Alert(
                    "ModelAtMaxReplicas",
                    # The runtime side of the model-gpu-capacity policy: an autoscaler pinned at its
                    # maximum cannot absorb more load, and past the pool's size its pods stay Pending.
                    "max by (namespace, horizontalpodautoscaler) (kube_horizontalpodautoscaler_status_current_replicas)"
                    " >= max by (namespace, horizontalpodautoscaler) (kube_horizontalpodautoscaler_spec_max_replicas)",
                    "15m",
                    Severity.WARNING,
                    "{{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler }} has run at its maximum replicas for 15 minutes",
                    "The autoscaler cannot add replicas: raise the model's replicas.max, within what its GPU pool holds.",
                    "model-at-max-replicas",
                ),
                Alert(
                    "PodCrashLooping",
                    'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
                    "15m",
                    Severity.WARNING,
                    "Pod {{ $labels.namespace }}/{{ $labels.pod }} is crash-looping",
                    "A container keeps exiting and Kubernetes is backing off its restarts.",
                    "pod-crash-looping",
                ),
            ],
        ),
        (
            "prometheus",
            [
                Alert(
                    "PrometheusStorageFillingUp",
                    'kubelet_volume_stats_available_bytes{persistentvolumeclaim=~"prometheus-.*"}'
                    ' / kubelet_volume_stats_capacity_bytes{persistentvolumeclaim=~"prometheus-.*"} < 0.15',
                    "15m",
                    Severity.WARNING,
                    "Prometheus volume {{ $labels.persistentvolumeclaim }} is over 85% full",
                    "Prometheus will stop ingesting when its volume fills. Grow the volume or shorten retention.",
                    "prometheus-storage",
                ),
                Alert(
                    "PrometheusStorageFullIn24h",
                    'predict_linear(kubelet_volume_stats_available_bytes{persistentvolumeclaim=~"prometheus-.*"}[6h], 86400) < 0',
                    "30m",
                    Severity.CRITICAL,
                    "Prometheus volume {{ $labels.persistentvolumeclaim }} will be full within a day",
                    "At the current growth the Prometheus volume fills within 24 hours.",
                    "prometheus-storage",
                ),
            ],
        ),
    ]
