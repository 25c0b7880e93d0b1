//! The plugin in process, its frames stepped one by one with
//! `App::update`: one frame in `sample_every` traced with its systems under
//! it, the others not at all, every frame in the histogram, and the app
//! asking to exit after its last frame.

mod recorded;

use std::time::Duration;

use bevy::prelude::*;
use example_bevy::{Settings, TracedGamePlugin};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use recorded::{Recorded, metric};

#[test]
fn sampled_frames_have_their_systems_and_every_frame_is_counted() {
    // Bevy runs systems on its own threads: record them all.
    let recorded = Recorded::start_global();
    let settings = Settings {
        frames: 80,
        sample_every: 40,
        budget: Duration::from_secs(1),
        hitch: None,
    };
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .add_plugins(TracedGamePlugin {
            settings,
            meter: recorded.meter(),
        });
    for _ in 0..80 {
        app.update();
    }
    assert_eq!(app.should_exit(), Some(AppExit::Success));

    let frames = recorded.spans_named("frame");
    assert_eq!(frames.len(), 2, "frames 40 and 80 only");
    for system in ["spawn wave", "move enemies", "score"] {
        let spans = recorded.spans_named(system);
        assert_eq!(spans.len(), 2, "{system}: once per sampled frame");
        for span in spans {
            let parent = span.parent_span_id;
            assert!(frames.iter().any(|f| f.span_context.span_id() == parent));
        }
    }

    let exported = recorded.metrics();
    let duration = metric(&exported, "game.frame.duration");
    let AggregatedMetrics::F64(MetricData::Histogram(histogram)) = duration.data()
    else {
        panic!("expected an f64 histogram, got {:?}", duration.data());
    };
    let count: u64 = histogram.data_points().map(|p| p.count()).sum();
    assert_eq!(count, 80);
}
