//! `moneta topology describe`: the stages and topics, from the same wiring
//! the runtime uses, as text, a Mermaid flowchart or a Graphviz DOT graph.

use std::process::ExitCode;

use clap::ValueEnum;
use moneta_topology::retention::DataClass;
use moneta_topology::{Config, Topic, Topology};

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One block per stage.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz DOT digraph.
    Dot,
    /// JSON: every stage with its topics and their schemas.
    Json,
    /// The Markdown tables of the docs: stages, then topics.
    Markdown,
}

/// Prints the topology.
pub fn describe(config: &Config, format: Format) -> anyhow::Result<ExitCode> {
    print!("{}", render(config, format));
    Ok(ExitCode::SUCCESS)
}

fn node(topic: &str) -> String {
    topic.replace(['.', '-'], "_")
}

fn listed(topics: &[Topic]) -> String {
    if topics.is_empty() {
        return "-".to_owned();
    }
    topics
        .iter()
        .map(|t| format!("{} ({})", t.name, t.values()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The topology in `format`.
pub fn render(config: &Config, format: Format) -> String {
    let topology = Topology::new(config);
    let p = &config.processing;
    let mut out = String::new();
    match format {
        Format::Text => {
            out.push_str(&format!(
                "guarantee {}; {} partitions per topic; application {}\n\n",
                p.guarantee, config.topics.partitions, p.application_id
            ));
            for s in topology.stages() {
                out.push_str(&format!(
                    "{}{}\n  {}\n  reads   {}\n  writes  {}\n  owns    {}\n  dead letters {}\n\n",
                    s.name,
                    if s.enabled { "" } else { " (disabled)" },
                    s.summary,
                    listed(&s.inputs),
                    listed(&s.outputs),
                    s.owns,
                    s.dead_letter
                ));
            }
            for (service, topic) in topology.service_topics() {
                out.push_str(&format!("service {service} writes {}\n", topic.name));
            }
        }
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            for s in topology.stages().iter().filter(|s| s.enabled) {
                out.push_str(&format!("  {}[[{}]]\n", node(s.name), s.name));
                for input in &s.inputs {
                    out.push_str(&format!(
                        "  {}([{}]) --> {}\n",
                        node(&input.name),
                        input.name,
                        node(s.name)
                    ));
                }
                for output in &s.outputs {
                    out.push_str(&format!(
                        "  {} --> {}([{}])\n",
                        node(s.name),
                        node(&output.name),
                        output.name
                    ));
                }
                out.push_str(&format!(
                    "  {} -.-> {}([{}])\n",
                    node(s.name),
                    node(&s.dead_letter),
                    s.dead_letter
                ));
            }
            for (service, topic) in topology.service_topics() {
                out.push_str(&format!(
                    "  {}[/{service}/] -.-> {}([{}])\n",
                    node(service),
                    node(&topic.name),
                    topic.name
                ));
            }
        }
        Format::Dot => {
            out.push_str("digraph moneta {\n  rankdir=LR;\n  node [shape=box];\n");
            for s in topology.stages().iter().filter(|s| s.enabled) {
                out.push_str(&format!("  \"{}\" [shape=component];\n", s.name));
                for input in &s.inputs {
                    out.push_str(&format!(
                        "  \"{0}\" [shape=cylinder];\n  \"{0}\" -> \"{1}\";\n",
                        input.name, s.name
                    ));
                }
                for output in &s.outputs {
                    out.push_str(&format!(
                        "  \"{0}\" [shape=cylinder];\n  \"{1}\" -> \"{0}\";\n",
                        output.name, s.name
                    ));
                }
                out.push_str(&format!(
                    "  \"{0}\" [shape=cylinder];\n  \"{1}\" -> \"{0}\" [style=dashed];\n",
                    s.dead_letter, s.name
                ));
            }
            for (service, topic) in topology.service_topics() {
                out.push_str(&format!(
                    "  \"{service}\" [shape=parallelogram];\n  \"{0}\" [shape=cylinder];\n  \"{service}\" -> \"{0}\" [style=dashed];\n",
                    topic.name
                ));
            }
            out.push_str("}\n");
        }
        Format::Json => {
            let topic = |t: &Topic| serde_json::json!({"name": t.name, "schema": t.schema.map(|s| s.file())});
            let stages: Vec<serde_json::Value> = topology
                .stages()
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "name": s.name,
                        "enabled": s.enabled,
                        "summary": s.summary,
                        "inputs": s.inputs.iter().map(topic).collect::<Vec<_>>(),
                        "outputs": s.outputs.iter().map(topic).collect::<Vec<_>>(),
                        "dead_letter": s.dead_letter,
                        "owns": s.owns,
                    })
                })
                .collect();
            let services: Vec<serde_json::Value> = topology
                .service_topics()
                .iter()
                .map(|(service, t)| serde_json::json!({"service": service, "writes": topic(t)}))
                .collect();
            let document = serde_json::json!({"stages": stages, "services": services});
            out.push_str(&format!("{document:#}\n"));
        }
        Format::Markdown => out.push_str(&markdown(&topology)),
    }
    out
}

/// The stage and topic tables of the docs, generated from the declaration.
fn markdown(topology: &Topology) -> String {
    let code = |topics: &[Topic]| {
        if topics.is_empty() {
            return "-".to_owned();
        }
        topics
            .iter()
            .map(|t| format!("`{}`", t.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out =
        String::from("| stage | reads | writes | owns | what it does |\n|---|---|---|---|---|\n");
    for s in topology.stages() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            s.name,
            code(&s.inputs),
            code(&s.outputs),
            s.owns,
            s.summary
        ));
    }
    out.push_str("\n| topic | values | written by | read by |\n|---|---|---|---|\n");
    for topic in topology.all_topics() {
        let by = |pick: &dyn Fn(&moneta_topology::Stage) -> bool| {
            topology
                .stages()
                .iter()
                .filter(|s| pick(s))
                .map(|s| format!("`{}`", s.name))
                .collect::<Vec<_>>()
        };
        let named = |list: &[Topic]| list.iter().any(|t| t.name == topic.name);
        let mut writers = by(&|s| named(&s.outputs) || s.dead_letter == topic.name);
        writers.extend(
            topology
                .service_topics()
                .iter()
                .filter(|(_, t)| t.name == topic.name)
                .map(|(service, _)| format!("`{service}`")),
        );
        let readers = by(&|s| named(&s.inputs));
        let dead_letters = topology
            .stages()
            .iter()
            .any(|s| s.dead_letter == topic.name)
            || topology
                .service_topics()
                .iter()
                .any(|(_, t)| t.name == topic.name && t.schema.is_none());
        let or_outside = |list: Vec<String>, outside: &str| {
            if list.is_empty() {
                outside.to_owned()
            } else {
                list.join(", ")
            }
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            topic.name,
            topic
                .schema
                .map_or("bytes".to_owned(), |s| format!("`{}`", s.file())),
            or_outside(writers, "partners"),
            or_outside(
                readers,
                if dead_letters {
                    "operators (`moneta replay`)"
                } else if topology.class_of(&topic.name) == DataClass::Changelog {
                    "`moneta state rebuild`"
                } else {
                    "finance, partners, operators"
                }
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_and_topic_appears_in_every_format() {
        let config = Config::default();
        let topology = Topology::new(&config);
        for format in [
            Format::Text,
            Format::Mermaid,
            Format::Dot,
            Format::Json,
            Format::Markdown,
        ] {
            let text = render(&config, format);
            for stage in topology.stages() {
                assert!(text.contains(stage.name), "{format:?} lacks {}", stage.name);
            }
            for topic in topology.all_topics() {
                assert!(
                    text.contains(&topic.name),
                    "{format:?} lacks {}",
                    topic.name
                );
            }
        }
        assert!(render(&config, Format::Dot).starts_with("digraph"));
        assert!(render(&config, Format::Mermaid).starts_with("flowchart LR"));
    }

    /// The stage and topic tables of the README and docs/contracts.md are
    /// `describe --format markdown` of the default configuration.
    #[test]
    fn the_docs_tables_are_the_generated_ones() {
        let generated = render(&Config::default(), Format::Markdown);
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for doc in ["README.md", "docs/contracts.md"] {
            let text = std::fs::read_to_string(root.join(doc)).expect("doc");
            let begin = "<!-- generated: moneta topology describe --format markdown -->\n";
            let start = text.find(begin).map(|i| i + begin.len());
            let end = text.find("<!-- end generated -->");
            let (Some(start), Some(end)) = (start, end) else {
                panic!("{doc} has no generated block");
            };
            assert_eq!(
                &text[start..end],
                generated,
                "{doc}: regenerate with `moneta topology describe --format markdown`"
            );
        }
    }
}
