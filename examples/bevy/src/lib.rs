//! A headless Bevy game loop, traced. A game has no requests: it has
//! frames, sixty a second, each running the same systems. A span per frame
//! would be a flood nobody reads, so the plugin here picks:
//!
//! - one frame in `sample_every` is a `frame` span, with a span for each
//!   system under it: the shape of a frame;
//! - a frame slower than the budget that was not sampled becomes a `slow
//!   frame` span after the fact, with its own start and end: the frames
//!   someone will ask about;
//! - every frame's duration goes into the `game.frame.duration` histogram;
//! - game moments (a wave spawned, a level loaded) are events: log records
//!   always, span events too in a sampled frame.

use std::time::{Duration, Instant, SystemTime};

use bevy::prelude::*;
use opentelemetry::KeyValue;
use opentelemetry::global::{self, BoxedTracer};
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::trace::{Span as _, Tracer as _};
use tracing::Span;
use tracing::field::Empty;

/// What the loop does.
#[derive(Resource, Clone, Debug)]
pub struct Settings {
    /// Frames to run before exiting.
    pub frames: u64,
    /// One frame in this many is traced.
    pub sample_every: u64,
    /// A frame slower than this is a slow frame.
    pub budget: Duration,
    /// A frame that stalls this long, as a level load would.
    pub hitch: Option<(u64, Duration)>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            frames: 600,
            sample_every: 60,
            budget: Duration::from_micros(16_667),
            hitch: None,
        }
    }
}

// ANCHOR: frame
/// What the frames took, from the first system to the last: for the
/// line the game prints after its last frame, which `cargo xtask bench
/// bevy` reads.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct FrameStats {
    pub frames: u64,
    pub total: Duration,
    pub longest: Duration,
}

/// The frame being run: its number, and its span if it is sampled.
#[derive(Resource)]
pub struct Frame {
    pub number: u64,
    span: Span,
    started: Instant,
    started_at: SystemTime,
}

impl Frame {
    /// A span for a system of this frame, under the frame's span; none in
    /// a frame that is not sampled.
    fn system(&self, name: &'static str) -> Span {
        if self.span.is_none() {
            return Span::none();
        }
        tracing::info_span!(parent: &self.span, "system", otel.name = name)
    }
}

/// Starts a frame: a `frame` span for one frame in `sample_every`.
fn begin_frame(mut frame: ResMut<Frame>, settings: Res<Settings>) {
    frame.number += 1;
    frame.started = Instant::now();
    frame.started_at = SystemTime::now();
    frame.span = if frame.number.is_multiple_of(settings.sample_every) {
        let number = i64::try_from(frame.number).unwrap_or(i64::MAX);
        tracing::info_span!(
            "frame",
            game.frame.number = number,
            game.frame.slow = Empty
        )
    } else {
        Span::none()
    };
}

/// Ends a frame: its duration into the histogram; a slow frame marked, or,
/// if it was not sampled, recorded after the fact with its own times.
fn end_frame(
    mut frame: ResMut<Frame>,
    mut stats: ResMut<FrameStats>,
    settings: Res<Settings>,
    instruments: Res<Instruments>,
    mut exit: MessageWriter<AppExit>,
) {
    let elapsed = frame.started.elapsed();
    instruments.duration.record(elapsed.as_secs_f64(), &[]);
    stats.frames += 1;
    stats.total += elapsed;
    stats.longest = stats.longest.max(elapsed);
    let number = i64::try_from(frame.number).unwrap_or(i64::MAX);
    if elapsed > settings.budget {
        if frame.span.is_none() {
            let mut slow = instruments
                .tracer
                .span_builder("slow frame")
                .with_start_time(frame.started_at)
                .with_attributes([KeyValue::new("game.frame.number", number)])
                .start(&instruments.tracer);
            slow.end_with_timestamp(frame.started_at + elapsed);
        } else {
            frame.span.record("game.frame.slow", true);
        }
    }
    // Dropping the span ends it.
    frame.span = Span::none();
    if frame.number >= settings.frames {
        let mean = stats.total.as_secs_f64() * 1e6 / stats.frames.max(1) as f64;
        println!(
            "frames: {}, mean frame: {mean:.1} µs, longest: {:.1} µs",
            stats.frames,
            stats.longest.as_secs_f64() * 1e6
        );
        exit.write(AppExit::Success);
    }
}
// ANCHOR_END: frame

/// The instruments the frames record into.
#[derive(Resource)]
pub struct Instruments {
    duration: Histogram<f64>,
    /// For the slow frames, whose start is in the past.
    tracer: BoxedTracer,
}

impl Instruments {
    pub fn new(meter: &Meter) -> Self {
        let duration = meter
            .f64_histogram("game.frame.duration")
            .with_unit("s")
            .with_description("How long each frame took.")
            // Buckets that end at the usual budgets: 120, 60, 30 fps.
            .with_boundaries(vec![
                0.001, 0.002, 0.004, 0.008_334, 0.016_667, 0.033_334, 0.05, 0.1,
                0.25,
            ])
            .build();
        Self {
            duration,
            tracer: global::tracer("example-bevy"),
        }
    }
}

/// An enemy, moving left.
#[derive(Component)]
pub struct Enemy {
    pub x: f32,
    pub speed: f32,
}

/// The score: enemies that reached the left edge.
#[derive(Resource, Default)]
pub struct Score(pub u64);

// ANCHOR: systems
/// Every 20 frames, a wave of enemies: a game moment.
fn spawn_wave(mut commands: Commands, frame: Res<Frame>) {
    let _span = frame.system("spawn wave").entered();
    if !frame.number.is_multiple_of(20) {
        return;
    }
    let wave = i64::try_from(frame.number / 20).unwrap_or(i64::MAX);
    for i in 0..8u8 {
        commands.spawn(Enemy {
            x: 100.0,
            speed: 1.0 + f32::from(i),
        });
    }
    tracing::info!(game.wave = wave, "wave spawned");
}

fn move_enemies(mut enemies: Query<&mut Enemy>, frame: Res<Frame>) {
    let _span = frame.system("move enemies").entered();
    for mut enemy in &mut enemies {
        enemy.x -= enemy.speed;
    }
}

fn score(
    mut commands: Commands,
    enemies: Query<(Entity, &Enemy)>,
    mut score: ResMut<Score>,
    frame: Res<Frame>,
) {
    let _span = frame.system("score").entered();
    for (entity, enemy) in &enemies {
        if enemy.x <= 0.0 {
            commands.entity(entity).despawn();
            score.0 += 1;
        }
    }
}

/// The configured hitch: one frame that stalls, as a level load does.
fn load_level(frame: Res<Frame>, settings: Res<Settings>) {
    if let Some((at, stall)) = settings.hitch
        && frame.number == at
    {
        let _span = frame.system("load level").entered();
        std::thread::sleep(stall);
        tracing::info!("level loaded");
    }
}
// ANCHOR_END: systems

/// The game, with its telemetry.
pub struct TracedGamePlugin {
    pub settings: Settings,
    pub meter: Meter,
}

impl Plugin for TracedGamePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(self.settings.clone())
            .insert_resource(Instruments::new(&self.meter))
            .insert_resource(Frame {
                number: 0,
                span: Span::none(),
                started: Instant::now(),
                started_at: SystemTime::now(),
            })
            .init_resource::<Score>()
            .init_resource::<FrameStats>()
            .add_systems(First, begin_frame)
            .add_systems(
                Update,
                (spawn_wave, move_enemies, score, load_level).chain(),
            )
            .add_systems(Last, end_frame);
    }
}
