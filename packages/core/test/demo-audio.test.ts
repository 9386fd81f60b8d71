import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import { DEMO_SAMPLE_RATE, demoAudioChunks, demoAudioSize } from '../src/demo/demo-audio.js';

async function render(id: string, durationMs: number): Promise<{ bytes: Buffer; chunkSizes: number[] }> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of demoAudioChunks({ id, durationMs })) chunks.push(chunk);
  return { bytes: Buffer.concat(chunks), chunkSizes: chunks.map((chunk) => chunk.byteLength) };
}

describe('demo audio', () => {
  it('is a PCM WAV file whose header agrees with demoAudioSize', async () => {
    const durationMs = 12_000;
    const { bytes } = await render('OWR6Y4c6LZmY6JLnw8exV3', durationMs);
    const samples = Math.round((durationMs * DEMO_SAMPLE_RATE) / 1000);
    expect(bytes.length).toBe(demoAudioSize(durationMs));
    expect(bytes.length).toBe(44 + samples * 2);
    expect(bytes.toString('ascii', 0, 4)).toBe('RIFF');
    expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8);
    expect(bytes.toString('ascii', 8, 12)).toBe('WAVE');
    expect(bytes.toString('ascii', 12, 16)).toBe('fmt ');
    expect(bytes.readUInt32LE(16)).toBe(16);
    expect(bytes.readUInt16LE(20)).toBe(1); // PCM
    expect(bytes.readUInt16LE(22)).toBe(1); // mono
    expect(bytes.readUInt32LE(24)).toBe(22_050);
    expect(bytes.readUInt32LE(28)).toBe(44_100);
    expect(bytes.readUInt16LE(32)).toBe(2);
    expect(bytes.readUInt16LE(34)).toBe(16);
    expect(bytes.toString('ascii', 36, 40)).toBe('data');
    expect(bytes.readUInt32LE(40)).toBe(samples * 2);
  });

  it('is audible, unclipped, and fades to silence at the end', async () => {
    const { bytes } = await render('OWR6Y4c6LZmY6JLnw8exV3', 10_000);
    const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset + 44, bytes.byteOffset + bytes.length));
    let sumSquares = 0;
    let peak = 0;
    for (const sample of pcm) {
      sumSquares += sample * sample;
      peak = Math.max(peak, Math.abs(sample));
    }
    const rms = Math.sqrt(sumSquares / pcm.length);
    expect(rms).toBeGreaterThan(1000);
    expect(peak).toBeLessThan(32_767);
    expect(Math.abs(pcm[pcm.length - 1] ?? 1)).toBeLessThan(50);
  });

  it('is the same for the same id and different for another', async () => {
    const digest = async (id: string) => createHash('sha256').update((await render(id, 9_000)).bytes).digest('hex');
    const first = await digest('1Sc1JKUYgTSR3vaL6WaF7I');
    expect(await digest('1Sc1JKUYgTSR3vaL6WaF7I')).toBe(first);
    expect(await digest('m86a0lJ7GLahMmoANx43pV')).not.toBe(first);
  });

  it('comes in chunks of at most 64 KiB', async () => {
    const { chunkSizes } = await render('m86a0lJ7GLahMmoANx43pV', 20_000);
    expect(chunkSizes.length).toBeGreaterThan(10);
    expect(Math.max(...chunkSizes)).toBeLessThanOrEqual(64 * 1024);
  });

  it('refuses durations that are not a positive whole number of milliseconds', () => {
    expect(() => demoAudioSize(0)).toThrow(ValidationError);
    expect(() => demoAudioSize(1.5)).toThrow(ValidationError);
    expect(() => demoAudioSize(Number.NaN)).toThrow(ValidationError);
  });
});
