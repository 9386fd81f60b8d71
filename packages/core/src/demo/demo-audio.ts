import { ValidationError } from '../errors.js';

/**
 * Demo audio: a short, made-up tune for each demo track, as a real WAV file (PCM, 16-bit,
 * mono, 22050 Hz). The tune is derived from the track id alone, so the same id always gives
 * the same bytes, and it is rendered chunk by chunk so memory stays flat.
 */
export const DEMO_AUDIO_CONTENT_TYPE = 'audio/wav';
export const DEMO_SAMPLE_RATE = 22_050;

const BYTES_PER_SAMPLE = 2;
const HEADER_BYTES = 44;
const CHUNK_SAMPLES = 32_768; // 64 KiB of samples per chunk
const MAX_DURATION_MS = 10 * 60_000;
const FADE_OUT_SECONDS = 0.6;

const SCALES: readonly (readonly number[])[] = [
  [0, 2, 4, 7, 9], // major pentatonic
  [0, 3, 5, 7, 10], // minor pentatonic
  [0, 2, 3, 5, 7, 9, 10], // dorian
  [0, 2, 4, 5, 7, 9, 11], // major
];
// Bass roots per bar, in semitones above the key.
const PROGRESSIONS: readonly (readonly number[])[] = [
  [0, 5, 7, 0],
  [0, 9, 5, 7],
  [0, 7, 9, 5],
  [0, 3, 5, 7],
];

interface Note {
  start: number;
  end: number;
  frequency: number;
}

interface Voice {
  notes: Note[];
  gain: number;
  /** Relative strength of the 1st, 2nd, 3rd… harmonics. */
  harmonics: readonly number[];
  decayPerSecond: number;
}

/** Bytes in the demo WAV of a track this long, header included. */
export function demoAudioSize(durationMs: number): number {
  return HEADER_BYTES + sampleCount(durationMs) * BYTES_PER_SAMPLE;
}

/** The demo WAV of a track: the header, then chunks of about 64 KiB. */
export async function* demoAudioChunks(track: { id: string; durationMs: number }): AsyncGenerator<Uint8Array> {
  const total = sampleCount(track.durationMs);
  yield wavHeader(total * BYTES_PER_SAMPLE);
  const voices = compose(track.id, total);
  const cursors = voices.map(() => 0);
  for (let from = 0; from < total; from += CHUNK_SAMPLES) {
    const count = Math.min(CHUNK_SAMPLES, total - from);
    const chunk = new Uint8Array(count * BYTES_PER_SAMPLE);
    render(voices, cursors, total, from, new DataView(chunk.buffer), count);
    yield chunk;
  }
}

function sampleCount(durationMs: number): number {
  if (!Number.isInteger(durationMs) || durationMs <= 0 || durationMs > MAX_DURATION_MS) {
    throw ValidationError.field('durationMs', `must be a whole number of milliseconds from 1 to ${MAX_DURATION_MS}`);
  }
  return Math.round((durationMs * DEMO_SAMPLE_RATE) / 1000);
}

function wavHeader(dataBytes: number): Uint8Array {
  const header = new Uint8Array(HEADER_BYTES);
  const view = new DataView(header.buffer);
  const ascii = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) view.setUint8(offset + i, text.charCodeAt(i));
  };
  ascii(0, 'RIFF');
  view.setUint32(4, HEADER_BYTES - 8 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, DEMO_SAMPLE_RATE, true);
  view.setUint32(28, DEMO_SAMPLE_RATE * BYTES_PER_SAMPLE, true); // byte rate
  view.setUint16(32, BYTES_PER_SAMPLE, true); // block align
  view.setUint16(34, BYTES_PER_SAMPLE * 8, true); // bits per sample
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  return header;
}

/** A melody wandering over a scale above a bass line, all chosen by a PRNG seeded from the id. */
function compose(id: string, total: number): Voice[] {
  const random = mulberry32(fnv1a(id));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const scale = pick(SCALES);
  const progression = pick(PROGRESSIONS);
  const key = 55 + Math.floor(random() * 8); // MIDI G3..D4
  const eighth = Math.round((DEMO_SAMPLE_RATE * 30) / (84 + Math.floor(random() * 49))); // 84–132 BPM
  const bar = eighth * 8;

  const melody: Note[] = [];
  let degree = scale.length + Math.floor(random() * scale.length);
  for (let start = 0; start < total; ) {
    const length = eighth * pick([1, 1, 2, 2, 2, 3, 4]);
    degree = Math.max(0, Math.min(scale.length * 2, degree + pick([-2, -1, -1, 0, 1, 1, 2])));
    const octave = Math.floor(degree / scale.length);
    const semitone = 12 * octave + (scale[degree % scale.length] ?? 0);
    // One note in eight is a rest, so the line breathes.
    if (random() >= 0.125) melody.push({ start, end: Math.min(total, start + length), frequency: midiToHz(key + 12 + semitone) });
    start += length;
  }

  const bass: Note[] = [];
  for (let start = 0, index = 0; start < total; start += bar, index++) {
    const root = progression[index % progression.length] ?? 0;
    bass.push({ start, end: Math.min(total, start + bar), frequency: midiToHz(key - 12 + root) });
  }

  return [
    { notes: melody, gain: 0.3, harmonics: [1, 0.35, 0.12], decayPerSecond: 3 },
    { notes: bass, gain: 0.2, harmonics: [1, 0.25], decayPerSecond: 1.2 },
  ];
}

function render(voices: Voice[], cursors: number[], total: number, from: number, out: DataView, count: number): void {
  const fadeFrom = total - FADE_OUT_SECONDS * DEMO_SAMPLE_RATE;
  for (let i = 0; i < count; i++) {
    const sample = from + i;
    let value = 0;
    for (let v = 0; v < voices.length; v++) {
      const voice = voices[v] as Voice;
      let cursor = cursors[v] ?? 0;
      while (cursor < voice.notes.length && (voice.notes[cursor]?.end ?? 0) <= sample) cursor++;
      cursors[v] = cursor;
      const note = voice.notes[cursor];
      if (note && note.start <= sample) value += voice.gain * tone(voice, note, sample);
    }
    if (sample > fadeFrom) value *= (total - sample) / (total - fadeFrom);
    const clamped = Math.max(-1, Math.min(1, value));
    out.setInt16(i * BYTES_PER_SAMPLE, Math.round(clamped * 32_767), true);
  }
}

/** One note's sound at a sample: harmonics under an attack, a decay and a click-free release. */
function tone(voice: Voice, note: Note, sample: number): number {
  const t = (sample - note.start) / DEMO_SAMPLE_RATE;
  const remaining = (note.end - sample) / DEMO_SAMPLE_RATE;
  const envelope = Math.min(1, t / 0.012) * Math.exp(-voice.decayPerSecond * t) * Math.min(1, remaining / 0.03);
  let wave = 0;
  for (let h = 0; h < voice.harmonics.length; h++) {
    wave += (voice.harmonics[h] ?? 0) * Math.sin(2 * Math.PI * note.frequency * (h + 1) * t);
  }
  return envelope * wave;
}

function midiToHz(note: number): number {
  return 440 * 2 ** ((note - 69) / 12);
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A small seeded PRNG: the same seed always gives the same sequence. */
function mulberry32(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
