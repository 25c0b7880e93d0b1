//! `--shard K/N`: a deterministic slice of the workspace, so that hosted CI
//! can run the per-package steps in parallel jobs. The workspace is cut
//! into units: each example with the packages nested in it, and one unit
//! for the tooling (the xtask, the book's snippets, the bench service).
//! Every unit lands in exactly one of the N shards; the units are dealt
//! out heaviest first to the lightest shard, weighing a unit by the number
//! of packages its build compiles (from `cargo metadata`'s resolve graph),
//! so that the heavy front ends and engines do not share a job.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use anyhow::{Context as _, Result, bail};

use super::{Example, examples, root};

/// Shard `index` of `count`, counted from 1 (`--shard 2/3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Shard> {
        let (index, count) = text
            .split_once('/')
            .with_context(|| format!("--shard {text:?}: write K/N, e.g. 2/3"))?;
        let number = |part: &str| {
            part.trim().parse::<usize>().with_context(|| {
                format!("--shard {text:?}: {part:?} is not a whole number")
            })
        };
        let shard = Shard {
            index: number(index)?,
            count: number(count)?,
        };
        if shard.count == 0 || shard.index == 0 || shard.index > shard.count {
            bail!("--shard {text:?}: K must be between 1 and N, and N at least 1");
        }
        Ok(shard)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The name of the unit that holds the workspace members outside `examples/`.
pub const TOOLING: &str = "tooling";

/// A slice of the workspace that always lands in one shard.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The example's slug, or [`TOOLING`].
    pub name: String,
    /// Its workspace packages.
    pub packages: Vec<String>,
    /// The example, for the steps that run examples.
    pub example: Option<Example>,
    /// The packages its build compiles, its own included.
    pub weight: usize,
}

/// What shard `shard` holds.
#[derive(Debug)]
pub struct Slice {
    pub examples: Vec<Example>,
    /// The workspace packages of its units, for clippy and the tests.
    pub packages: Vec<String>,
}

impl Shard {
    /// The units of this shard, from the workspace as it is.
    pub fn slice(&self) -> Result<Slice> {
        Ok(self.slice_of(&units()?))
    }

    /// The units of this shard among `units`.
    pub fn slice_of(&self, units: &[Unit]) -> Slice {
        let weights: Vec<(String, usize)> =
            units.iter().map(|u| (u.name.clone(), u.weight)).collect();
        let assigned = assign(&weights, self.count);
        let mut slice = Slice {
            examples: Vec::new(),
            packages: Vec::new(),
        };
        for unit in units.iter().filter(|u| assigned[&u.name] == self.index) {
            slice.packages.extend(unit.packages.iter().cloned());
            slice.examples.extend(unit.example.iter().cloned());
        }
        slice.packages.sort();
        slice
    }
}

/// Deals the units out to `count` shards: heaviest first (ties by name),
/// each to the shard with the least weight so far (ties to the lowest
/// index). Returns each unit's shard, counted from 1.
pub fn assign(units: &[(String, usize)], count: usize) -> BTreeMap<String, usize> {
    let mut order: Vec<&(String, usize)> = units.iter().collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut loads = vec![0usize; count.max(1)];
    let mut assigned = BTreeMap::new();
    for (name, weight) in order {
        let (lightest, _) = loads
            .iter()
            .enumerate()
            .min_by_key(|(index, load)| (**load, *index))
            .expect("at least one shard");
        loads[lightest] += weight;
        assigned.insert(name.clone(), lightest + 1);
    }
    assigned
}

/// Every unit of the workspace, weighed.
pub fn units() -> Result<Vec<Unit>> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(root().join("Cargo.toml"))
        .other_options(vec!["--locked".to_owned()])
        .exec()
        .context(
            "`cargo metadata` failed while cutting the workspace into shards",
        )?;
    let resolve = metadata
        .resolve
        .as_ref()
        .context("`cargo metadata` gave no dependency graph")?;
    let deps: BTreeMap<_, Vec<_>> = resolve
        .nodes
        .iter()
        .map(|node| (&node.id, node.deps.iter().map(|d| &d.pkg).collect()))
        .collect();
    let examples_dir = root().join("examples");
    let mut by_unit: BTreeMap<String, Vec<&cargo_metadata::Package>> =
        BTreeMap::new();
    for package in metadata.workspace_packages() {
        let manifest = package.manifest_path.as_std_path();
        let unit = match manifest.strip_prefix(&examples_dir) {
            Ok(inside) => inside
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .context("an example's directory name must be UTF-8")?
                .to_owned(),
            Err(_) => TOOLING.to_owned(),
        };
        by_unit.entry(unit).or_default().push(package);
    }
    let mut examples: BTreeMap<String, Example> = examples()?
        .into_iter()
        .map(|e| (e.slug.clone(), e))
        .collect();
    let mut units = Vec::new();
    for (name, packages) in by_unit {
        // Every package the unit's builds compile: a walk of the graph.
        let mut seen = BTreeSet::new();
        let mut stack: Vec<_> = packages.iter().map(|p| &p.id).collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(deps.get(id).into_iter().flatten().copied());
            }
        }
        units.push(Unit {
            example: examples.remove(&name),
            packages: packages.iter().map(|p| p.name.clone()).collect(),
            weight: seen.len(),
            name,
        });
    }
    if let Some(slug) = examples.keys().next() {
        bail!("examples/{slug} is not a member of the workspace (root Cargo.toml)");
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_k_of_n() {
        assert_eq!(
            "2/3".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 3 }
        );
        for wrong in ["0/3", "4/3", "1/0", "3", "a/3", "1/b", ""] {
            let error = wrong.parse::<Shard>().unwrap_err();
            assert!(
                format!("{error:#}").contains("--shard"),
                "{wrong}: {error:#}"
            );
        }
    }

    #[test]
    fn heavy_units_go_to_different_shards() {
        let units: Vec<(String, usize)> =
            [("a", 900), ("b", 850), ("c", 100), ("d", 90), ("e", 80)]
                .map(|(n, w)| (n.to_owned(), w))
                .into();
        let assigned = assign(&units, 2);
        assert_ne!(assigned["a"], assigned["b"]);
        // The same input deals the same way.
        assert_eq!(assigned, assign(&units, 2));
    }

    /// The union of the shards is the whole workspace: every unit of the
    /// repository as it is lands in exactly one shard, for any count.
    #[test]
    fn every_unit_lands_in_exactly_one_shard() {
        let units = units().unwrap();
        assert!(units.iter().any(|u| u.name == TOOLING));
        assert!(units.len() > 20, "{} units", units.len());
        let every: BTreeSet<String> =
            units.iter().flat_map(|u| u.packages.clone()).collect();
        let examples = crate::repo::examples().unwrap().len();
        for count in 1..=8 {
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            let mut slugs = BTreeSet::new();
            for index in 1..=count {
                let slice = Shard { index, count }.slice_of(&units);
                for package in slice.packages {
                    *seen.entry(package).or_default() += 1;
                }
                for example in slice.examples {
                    assert!(slugs.insert(example.slug.clone()), "{}", example.slug);
                }
            }
            assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), every);
            assert!(seen.values().all(|n| *n == 1), "{count} shards: {seen:?}");
            assert_eq!(slugs.len(), examples, "{count} shards");
        }
    }
}
