//! Kernel probes. The eBPF C programs (linux/*.bpf.c) and DTrace scripts (macos/*.d) land here
//! with the live-tracing work; this crate holds the skeleton the tracer links against.
