import numpy as np
import pytest

from captioner.core._clock import DAC_JITTER_MS, PlaybackClock


def tone(n, v=100):
    return np.full(n, v, np.int16)


def test_pull_stamps_every_frame_with_item_and_offsets():
    clock = PlaybackClock(1000)  # 1 sample = 1 ms keeps the arithmetic visible
    clock.enqueue("a", 0, tone(30))
    clock.enqueue("b", 0, tone(20, 7))
    clock.finish("a")  # b may only follow once a's audio is complete
    out = clock.pull(40, at_ms=100.0)
    assert out[:30].tolist() == [100] * 30 and out[30:].tolist() == [7] * 10
    assert clock.playing_at(110.0).item_id == "a" and clock.playing_at(110.0).item_sample == 10
    stamp = clock.playing_at(135.0)
    assert (stamp.item_id, stamp.item_sample, stamp.stream_sample) == ("b", 5, 35)
    assert clock.played_ms("a", 115.0) == 15.0 and clock.played_ms("b", 115.0) == 0.0
    assert clock.playing_at(99.0) is None


def test_underrun_inside_item_is_counted_and_shifts_later_audio():
    clock = PlaybackClock(1000)
    clock.enqueue("a", 0, tone(10))
    clock.pull(20, at_ms=0.0)  # 10 ms dry while "a" still expects audio
    assert clock.underrun_ms == 10.0 and clock.underruns == 1
    clock.enqueue("a", 0, tone(10))
    clock.pull(10, at_ms=20.0)
    assert clock.item_time("a", 15.0) == 25.0  # second chunk played after the gap
    clock.finish("a")
    clock.pull(10, at_ms=30.0)  # dry after the item ended: idle, not underrun
    assert clock.underrun_ms == 10.0 and clock.underruns == 1


def test_virtual_advance_respects_ready_times():
    clock = PlaybackClock(1000)
    clock.enqueue("a", 0, tone(50), ready_ms=100.0)
    clock.advance(80.0)
    assert clock.items["a"].segments == []
    clock.advance(200.0)
    seg = clock.items["a"].segments[0]
    assert seg.start_ms == 100.0 and seg.n_samples == 50
    # a late chunk of the same item makes an underrun gap
    clock.enqueue("a", 0, tone(10), ready_ms=150.0)
    clock.finish("a")
    clock.advance(300.0)
    assert clock.item_time("a", 50.0) == 200.0 and clock.underrun_ms == 50.0


def test_cut_drops_queued_audio_and_unstamps_frames_ahead_of_the_dac():
    clock = PlaybackClock(1000)
    clock.enqueue("a", 0, tone(100))
    clock.pull(60, at_ms=0.0)  # device took 60 ms ahead
    clock.cut("a", 25)  # but playback was stopped at 25
    assert clock.items["a"].played_total == 25 and clock.idle()
    assert not clock.enqueue("a", 0, tone(10))  # late audio for a cut item is dropped
    assert clock.played_ms("a", 1000.0) == 25.0


def test_projected_start_of_queued_item():
    clock = PlaybackClock(1000)
    clock.enqueue("a", 0, tone(40))
    clock.enqueue("b", 0, tone(40))
    clock.advance(10.0)
    assert clock.projected_start_ms("a") == 10.0  # the virtual player starts at its first advance
    assert clock.projected_start_ms("b") == 50.0


def test_next_item_waits_for_the_previous_one_to_finish():
    clock = PlaybackClock(1000)
    clock.enqueue("a", 0, tone(10))
    clock.enqueue("b", 0, tone(10))
    clock.pull(20, at_ms=0.0)
    assert clock.items["b"].segments == [] and clock.underrun_ms == 10.0 and clock.blocked()
    clock.enqueue("a", 0, tone(5))  # a's late audio jumps ahead of b's
    clock.finish("a")
    clock.pull(15, at_ms=20.0)
    assert clock.items["a"].segments[-1].start_ms == 20.0
    assert clock.items["b"].start_ms == 25.0


def test_wobbling_dac_times_keep_frames_back_to_back():
    """Reported DAC times wobble by a few ms (seen under load on PulseAudio: one block
    reported 2 ms before the last one ended); the frames still played back to back."""
    rng = np.random.default_rng(3)
    clock = PlaybackClock(24000)
    for k in range(400):
        if k == 100:  # the stream has been running (on silence) for a second
            clock.enqueue("a", 0, tone(240 * 300))  # 3 s in 10 ms blocks
            clock.finish("a")
        clock.pull(240, at_ms=10.0 * k + rng.uniform(-2.5, 2.5))
    item = clock.items["a"]
    span = item.end_ms - item.start_ms
    assert abs(span - 3000.0) <= 1.0, span  # literal reports give anything within ±5 ms
    starts = [s.start_ms for s in clock.segments]
    ends = [s.end_ms for s in clock.segments]
    # never stamped over each other (but for a nudge: a device clock running fast)
    assert all(b >= a - DAC_JITTER_MS / 16 for a, b in zip(ends, starts[1:]))
    assert clock.played_ms("a", 1000.0 + 1500.0) == pytest.approx(1500.0, abs=1.0)


def test_stalls_restarts_and_drift_still_follow_the_device():
    clock = PlaybackClock(24000)
    clock.enqueue("a", 0, tone(24000 * 3))
    clock.pull(240, at_ms=0.0)
    clock.pull(240, at_ms=40.0)  # the device stalled 30 ms: a real gap
    assert clock.item_time("a", 10.0) == 40.0
    clock.pull(240, at_ms=44.0)  # reported 6 ms early: impossible without a restart
    assert clock.item_time("a", 20.0) == pytest.approx(50.0, abs=DAC_JITTER_MS / 16)
    at = 60.0
    for _ in range(200):  # a device clock 0.5 % slow: reports drift 0.05 ms per block
        clock.pull(240, at_ms=at)
        at += 10.05
    assert abs(clock.item_time("a", 2020.0) - (at - 10.05)) <= 1.0  # followed, not 10 ms behind
    clock.cut("a", 24 * 2030)  # interrupted: the device drops its buffer and restarts
    clock.enqueue("b", 0, tone(2400))
    clock.pull(240, at_ms=at - 30.0)  # earlier than the continuation: taken as it is
    assert clock.item_time("b", 0.0) == at - 30.0
