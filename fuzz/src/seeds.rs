//! Writes each fuzz target's seed corpus into `corpus/<target>/` (run from `fuzz/`): the
//! shapes the tests send, so the fuzzers start from inputs that reach deep into the decoders
//! rather than from nothing. Requests of every OTLP metric kind (protobuf and JSON),
//! remote-write bodies (raw, for the target to compress, and snappy), the extender's four
//! verbs, the quantities of `scheduler-extender/src/quantity.rs`'s tests, and a file of each
//! dataset format, as the datasets' unit tests write them.

use ironspider_ingest::format::remote_write::proto::{Label, Sample, TimeSeries, WriteRequest};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint, exponential_histogram_data_point, metric::Data,
    number_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::path::Path;

const T0: u64 = 1_700_000_000_000_000_000;

fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

fn number(ts: u64, value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: T0,
        time_unix_nano: ts,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: Data) -> Metric {
    Metric { name: name.into(), unit: unit.into(), data: Some(data), ..Default::default() }
}

/// One request with a metric of every kind the receivers take.
fn otlp_requests() -> Vec<ExportMetricsServiceRequest> {
    let gauge = metric(
        "system.cpu.utilization",
        "1",
        Data::Gauge(Gauge { data_points: vec![number(T0 + 1, 0.25, vec![attr("cpu", "0"), attr("state", "user")])] }),
    );
    let counter = metric(
        "system.network.io",
        "By",
        Data::Sum(Sum {
            data_points: vec![number(T0 + 10, 100.0, vec![attr("direction", "receive")])],
            aggregation_temporality: 2,
            is_monotonic: true,
        }),
    );
    let histogram = metric(
        "http.server.duration",
        "ms",
        Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: T0 + 20,
                count: 6,
                sum: Some(21.0),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![1.0, 5.0],
                ..Default::default()
            }],
            aggregation_temporality: 1,
        }),
    );
    let exponential = metric(
        "e2e.exp",
        "s",
        Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: T0 + 30,
                count: 4,
                sum: Some(7.5),
                scale: 1,
                zero_count: 1,
                positive: Some(exponential_histogram_data_point::Buckets { offset: -1, bucket_counts: vec![1, 2] }),
                ..Default::default()
            }],
            aggregation_temporality: 2,
        }),
    );
    let summary = metric(
        "rpc.latency",
        "s",
        Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                time_unix_nano: T0 + 40,
                count: 3,
                sum: 1.5,
                quantile_values: vec![summary_data_point::ValueAtQuantile { quantile: 0.5, value: 0.4 }],
                ..Default::default()
            }],
        }),
    );
    let gpu = metric(
        "DCGM_FI_DEV_GPU_UTIL",
        "%",
        Data::Gauge(Gauge { data_points: vec![number(T0 + 5, 87.0, vec![attr("gpu", "0"), attr("UUID", "GPU-1")])] }),
    );
    let resource = |node: &str, metrics: Vec<Metric>| ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![attr("k8s.node.name", node), attr("k8s.cluster.name", "fuzz")],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope { name: "seeds".into(), version: "1".into(), ..Default::default() }),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    };
    vec![
        ExportMetricsServiceRequest { resource_metrics: vec![resource("node-a", vec![gauge.clone()])] },
        ExportMetricsServiceRequest {
            resource_metrics: vec![
                resource("node-a", vec![gauge, counter, histogram]),
                resource("node-b", vec![exponential, summary, gpu]),
            ],
        },
    ]
}

fn remote_write_requests() -> Vec<WriteRequest> {
    let label = |name: &str, value: &str| Label { name: name.into(), value: value.into() };
    let series = |name: &str, extra: Vec<Label>, values: &[f64]| TimeSeries {
        labels: [vec![label("__name__", name), label("instance", "node-a:9100"), label("job", "node")], extra].concat(),
        samples: values
            .iter()
            .enumerate()
            .map(|(i, &value)| Sample { value, timestamp: 1_700_000_000_000 + i as i64 * 1000 })
            .collect(),
        histograms: Vec::new(),
    };
    vec![
        WriteRequest { timeseries: vec![series("node_load1", vec![], &[0.5, 0.7])] },
        WriteRequest {
            timeseries: vec![
                series("node_cpu_seconds_total", vec![label("cpu", "0"), label("mode", "idle")], &[10.0, 11.0]),
                series("DCGM_FI_DEV_GPU_UTIL", vec![label("gpu", "0"), label("Hostname", "node-a")], &[90.0]),
                series("node_memory_MemAvailable_bytes", vec![], &[f64::from_bits(0x7ff0_0000_0000_0002)]),
            ],
        },
    ]
}

const FILTER: &str = r#"{"Pod":{"metadata":{"name":"p","namespace":"default","uid":"u1"},"spec":{"containers":[{"name":"c","resources":{"requests":{"nvidia.com/gpu":"1","cpu":"500m","memory":"1Gi"}}}]}},"NodeNames":["gpu-a","gpu-b","unknown"]}"#;
const FRACTION: &str = r#"{"Pod":{"metadata":{"name":"q","namespace":"default","uid":"u2"},"spec":{"containers":[{"name":"c","resources":{"requests":{"ironspider.io/gpu-milli":"300"}}}]}},"NodeNames":["gpu-a"]}"#;
const PREEMPT: &str = r#"{"Pod":{"metadata":{"name":"p","namespace":"default","uid":"u1"},"spec":{"containers":[]}},"NodeNameToMetaVictims":{"gpu-a":{"Pods":[{"UID":"v"}],"NumPDBViolations":0}}}"#;
const BIND: &str = r#"{"PodName":"q","PodNamespace":"default","PodUID":"u2","Node":"gpu-a"}"#;

const BITBRAINS: &str = "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\tCPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\tDisk read throughput [KB/s];\tDisk write throughput [KB/s];\tNetwork received throughput [KB/s];\tNetwork transmitted throughput [KB/s]\n\
1372629804;\t2;\t5000.0;\t100.0;\t50.0;\t4096.0;\t1024.0;\t0.0;\t1.5;\t0.2;\t1.0\n\
1372630104;\t2;\t5000.0;\t100.0;\t104.0;\t4096.0;\t8192.0;\t0.0;\t1.5;\t0.2;\t1.0\n";
const GENAI: &str =
    "value,timestamp_anon,container_ip\n50.0,1662858720.0,aaaa\n130.0,1662858777.0,aaaa\nNaN,1662858720.0,bbbb\n";
const NODES: &str = "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,32000,1,0,\n";
const PODS: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\np0,12000,16384,1,460,,LS\np1,4000,8192,2,1000,V100M16|V100M32,BE\np4,1000\n";

fn write(target: &str, seeds: Vec<Vec<u8>>) -> std::io::Result<()> {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir)?;
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i}")), seed)?;
    }
    println!("{target}: {} seeds", seeds.len());
    Ok(())
}

fn prefixed(byte: u8, body: &[u8]) -> Vec<u8> {
    [&[byte][..], body].concat()
}

fn main() -> std::io::Result<()> {
    let otlp = otlp_requests();
    write("otlp_protobuf", otlp.iter().map(Message::encode_to_vec).collect())?;
    write("otlp_json", otlp.iter().map(|r| serde_json::to_vec(r).expect("OTLP/JSON")).collect())?;
    let mut remote = Vec::new();
    for request in remote_write_requests() {
        let raw = request.encode_to_vec();
        remote.push(prefixed(0, &raw));
        remote.push(snap::raw::Encoder::new().compress_vec(&raw).expect("snappy"));
    }
    write("remote_write", remote)?;
    let verbs = [(0, FILTER), (1, FILTER), (0, FRACTION), (2, PREEMPT), (3, BIND)];
    write("extender", verbs.iter().map(|(verb, body)| prefixed(*verb, body.as_bytes())).collect())?;
    let quantities = ["500m", "2Gi", "1.5", "1e3", "1E-2", "0.5Ki", "-1", "9Ei", "+4", "100M", " 3 "];
    write("quantity", quantities.iter().map(|q| q.as_bytes().to_vec()).collect())?;
    let files = [(0, BITBRAINS), (1, GENAI), (2, GENAI), (3, GENAI), (4, NODES), (5, PODS)];
    write("dataset_csv", files.iter().map(|(which, text)| prefixed(*which, text.as_bytes())).collect())
}
