//! Prints the Website CustomResourceDefinition as YAML:
//! `cargo run -p example-kube-operator --bin crdgen > deploy/crd.yaml`.

use example_kube_operator::Website;
use kube::CustomResourceExt as _;

fn main() -> std::process::ExitCode {
    match serde_yaml::to_string(&Website::crd()) {
        Ok(yaml) => {
            print!("{yaml}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot write the CRD as YAML: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
