//! Time to plan a project with 200 installed extensions against a registry of
//! 2,000 versions (400 extensions × 5 versions, 0–4 dependencies each, some
//! conflicts). Prints one line per scenario with the median of the runs.
//!
//!     cargo bench -p magflock-resolver

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use magflock_resolver::{Candidate, Conflict, Dependency, MemoryIndex, Plan, Project, Request, plan};
use semver::{Version, VersionReq};

const EXTENSIONS: usize = 400;
const VERSIONS: [&str; 5] = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"];
const INSTALLED_FROM: usize = 200;
const RUNS: usize = 31;

/// A small deterministic generator (splitmix64): the same registry every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn name(i: usize) -> String {
    format!("ext-{i:03}")
}

fn req(s: &str) -> VersionReq {
    VersionReq::parse(s).unwrap()
}

/// Extension `i` depends only on extensions with a higher number (no cycles):
/// 1.x versions on `^1`, 2.x versions on `>=1.1` or, for a third of them, `^2`.
fn registry() -> MemoryIndex {
    let mut rng = Rng(7);
    let mut index = MemoryIndex::new();
    for i in 0..EXTENSIONS {
        for v in VERSIONS {
            let version = Version::parse(v).unwrap();
            let mut c = Candidate::new(name(i), version.clone());
            c.host = req(">=0.1, <0.3");
            c.capabilities = vec!["logging".to_owned()];
            if version.major == 2 {
                c.capabilities.push("kv".to_owned());
            }
            let fan_out = rng.below(5);
            let mut targets: Vec<usize> =
                (0..fan_out).map(|_| i + 1 + rng.below(40)).filter(|j| *j < EXTENSIONS).collect();
            targets.sort_unstable();
            targets.dedup();
            for j in targets {
                let range = match (version.major, rng.below(3)) {
                    (1, _) => "^1",
                    (_, 0) => "^2",
                    _ => ">=1.1",
                };
                c.dependencies.push(Dependency {
                    name: name(j),
                    req: req(range),
                    optional: rng.below(8) == 0,
                });
            }
            if rng.below(20) == 0 {
                let other = rng.below(EXTENSIONS);
                if other != i && !c.dependencies.iter().any(|d| d.name == name(other)) {
                    c.conflicts.push(Conflict {
                        name: name(other),
                        req: Some(req("<1.1")),
                        reason: "both serve /rest".to_owned(),
                    });
                }
            }
            c.yanked = rng.below(50) == 0 && v != "1.2.0";
            index.add(c);
        }
    }
    index
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time(label: &str, index: &MemoryIndex, project: &Project<'_>, requests: &[Request]) -> Plan {
    let mut result = None;
    let runs: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let p = plan(index, project, requests);
            let took = start.elapsed();
            result = Some(p);
            took
        })
        .collect();
    let p = result.unwrap().unwrap_or_else(|f| panic!("{label}: {f}"));
    println!(
        "plan/{label}: median {:.2} ms over {RUNS} runs ({} versions, {} installed, {} steps)",
        median(runs).as_secs_f64() * 1e3,
        index.len(),
        project.installed.len(),
        p.steps.len(),
    );
    p
}

fn main() {
    let index = registry();
    assert_eq!(index.len(), 2_000);
    let host_api = Version::new(0, 2, 0);

    // The project: extensions 200..399 installed on their 1.x line, found by
    // the resolver itself so that the installed set is consistent.
    let empty = Project { installed: &[], host_api: host_api.clone() };
    let wanted: Vec<Request> =
        (INSTALLED_FROM..EXTENSIONS).map(|i| Request::install(name(i), req("^1"))).collect();
    let setup = plan(&index, &empty, &wanted).unwrap_or_else(|f| panic!("setup: {f}"));
    let installed: Vec<Candidate> = setup
        .final_set
        .iter()
        .map(|(n, v)| {
            use magflock_resolver::Index;
            index.versions(n).into_iter().find(|c| &c.version == v).unwrap()
        })
        .collect();
    assert_eq!(installed.len(), EXTENSIONS - INSTALLED_FROM);
    let project = Project { installed: &installed, host_api };

    time("check-200-installed", &index, &project, &[]);
    time("install-new-with-deps", &index, &project, &[Request::install(name(150), VersionReq::STAR)]);
    time(
        "upgrade-one-to-latest",
        &index,
        &project,
        &[Request::upgrade(name(INSTALLED_FROM + 10), VersionReq::STAR)],
    );
    time(
        "upgrade-all-to-latest",
        &index,
        &project,
        &(INSTALLED_FROM..EXTENSIONS)
            .map(|i| Request::upgrade(name(i), VersionReq::STAR))
            .collect::<Vec<_>>(),
    );
}
