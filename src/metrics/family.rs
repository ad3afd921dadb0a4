//! Metric families built per scrape from values read elsewhere (the database, the pool), for the
//! text encoder beside the registry's own.

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};

fn family<S: AsRef<str>>(
    name: &str,
    help: &str,
    kind: MetricType,
    labels: &[&str],
    samples: impl IntoIterator<Item = (Vec<S>, f64)>,
) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    let metrics = samples
        .into_iter()
        .map(|(values, value)| {
            let pairs = labels
                .iter()
                .zip(values.iter())
                .map(|(label, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name((*label).to_owned());
                    pair.set_value(value.as_ref().to_owned());
                    pair
                })
                .collect();
            let mut metric = Metric::from_label(pairs);
            match kind {
                MetricType::COUNTER => {
                    let mut counter = Counter::default();
                    counter.set_value(value);
                    metric.set_counter(counter);
                }
                _ => {
                    let mut gauge = Gauge::default();
                    gauge.set_value(value);
                    metric.set_gauge(gauge);
                }
            }
            metric
        })
        .collect();
    family.set_metric(metrics);
    family
}

/// A counter family: one sample per label values.
pub fn counter<S: AsRef<str>>(
    name: &str,
    help: &str,
    labels: &[&str],
    samples: impl IntoIterator<Item = (Vec<S>, f64)>,
) -> MetricFamily {
    family(name, help, MetricType::COUNTER, labels, samples)
}

/// A gauge family: one sample per label values.
pub fn gauge<S: AsRef<str>>(
    name: &str,
    help: &str,
    labels: &[&str],
    samples: impl IntoIterator<Item = (Vec<S>, f64)>,
) -> MetricFamily {
    family(name, help, MetricType::GAUGE, labels, samples)
}
