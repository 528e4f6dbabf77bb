//! `moneta topology describe`: the stages and topics, from the same wiring
//! the runtime uses, as text, a Mermaid flowchart or a Graphviz DOT graph.

use std::process::ExitCode;

use clap::ValueEnum;
use moneta_topology::{Config, Topology};

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One block per stage.
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz DOT digraph.
    Dot,
}

/// Prints the topology.
pub fn describe(config: &Config, format: Format) -> anyhow::Result<ExitCode> {
    print!("{}", render(config, format));
    Ok(ExitCode::SUCCESS)
}

fn node(topic: &str) -> String {
    topic.replace(['.', '-'], "_")
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
                    "{}{}\n  {}\n  reads   {}\n  writes  {}\n  dead letters {}\n\n",
                    s.name,
                    if s.enabled { "" } else { " (disabled)" },
                    s.summary,
                    s.inputs.join(", "),
                    s.outputs.join(", "),
                    s.dead_letter
                ));
            }
        }
        Format::Mermaid => {
            out.push_str("flowchart LR\n");
            for s in topology.stages().iter().filter(|s| s.enabled) {
                out.push_str(&format!("  {}[[{}]]\n", node(s.name), s.name));
                for input in &s.inputs {
                    out.push_str(&format!(
                        "  {}([{input}]) --> {}\n",
                        node(input),
                        node(s.name)
                    ));
                }
                for output in &s.outputs {
                    out.push_str(&format!(
                        "  {} --> {}([{output}])\n",
                        node(s.name),
                        node(output)
                    ));
                }
                out.push_str(&format!(
                    "  {} -.-> {}([{}])\n",
                    node(s.name),
                    node(&s.dead_letter),
                    s.dead_letter
                ));
            }
        }
        Format::Dot => {
            out.push_str("digraph moneta {\n  rankdir=LR;\n  node [shape=box];\n");
            for s in topology.stages().iter().filter(|s| s.enabled) {
                out.push_str(&format!("  \"{}\" [shape=component];\n", s.name));
                for input in &s.inputs {
                    out.push_str(&format!(
                        "  \"{input}\" [shape=cylinder];\n  \"{input}\" -> \"{}\";\n",
                        s.name
                    ));
                }
                for output in &s.outputs {
                    out.push_str(&format!(
                        "  \"{output}\" [shape=cylinder];\n  \"{}\" -> \"{output}\";\n",
                        s.name
                    ));
                }
                out.push_str(&format!(
                    "  \"{0}\" [shape=cylinder];\n  \"{1}\" -> \"{0}\" [style=dashed];\n",
                    s.dead_letter, s.name
                ));
            }
            out.push_str("}\n");
        }
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
        for format in [Format::Text, Format::Mermaid, Format::Dot] {
            let text = render(&config, format);
            for stage in topology.stages() {
                assert!(text.contains(stage.name), "{format:?} lacks {}", stage.name);
            }
            for topic in topology.topics() {
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
}
