import { describe, expect, it } from 'vitest';
import {
  CANDIDATE_WINDOW_MS,
  CandidateBatcher,
  MAX_CANDIDATES_PER_SIGNAL,
  unbundle,
  type Signal,
} from '../../extension/core/peers/candidate-batches';
import { FakeClock } from '../helpers/fake-clock';

const candidate = (n: number): Signal => ({ type: 'candidate', candidate: { candidate: `c${n}`, sdpMid: '0' } });

function batcher() {
  const clock = new FakeClock();
  const sent: Signal[] = [];
  return { clock, sent, batch: new CandidateBatcher((signal) => sent.push(signal), clock) };
}

describe('candidate bundles', () => {
  it('a burst of candidates goes as one signal after the window', () => {
    const { clock, sent, batch } = batcher();
    for (let n = 0; n < 5; n += 1) batch.push(candidate(n));
    expect(sent).toEqual([]);
    clock.advance(CANDIDATE_WINDOW_MS);
    expect(sent).toEqual([{ type: 'candidates', candidates: [0, 1, 2, 3, 4].map((n) => candidate(n).candidate) }]);
    clock.advance(1000);
    expect(sent).toHaveLength(1);
  });

  it('keeps the order: an offer or answer first sends the candidates waiting before it', () => {
    const { clock, sent, batch } = batcher();
    batch.push(candidate(1));
    batch.push({ type: 'answer', sdp: 'v=0' });
    batch.push(candidate(2));
    clock.advance(CANDIDATE_WINDOW_MS);
    expect(sent.map((signal) => signal.type)).toEqual(['candidates', 'answer', 'candidates']);
    expect(sent.flatMap(unbundle)).toEqual([candidate(1), { type: 'answer', sdp: 'v=0' }, candidate(2)]);
  });

  it('never bundles more than the cap in one signal, and drops what waits when closed', () => {
    const { clock, sent, batch } = batcher();
    for (let n = 0; n < MAX_CANDIDATES_PER_SIGNAL + 2; n += 1) batch.push(candidate(n));
    expect(sent).toHaveLength(1);
    expect(sent[0]!.candidates).toHaveLength(MAX_CANDIDATES_PER_SIGNAL);
    batch.close();
    clock.advance(CANDIDATE_WINDOW_MS);
    expect(sent).toHaveLength(1);
  });

  it('unbundles a received bundle into candidates (bounded), and passes anything else through', () => {
    const many = Array.from({ length: 40 }, (_, n) => candidate(n).candidate);
    expect(unbundle({ type: 'candidates', candidates: many })).toHaveLength(MAX_CANDIDATES_PER_SIGNAL);
    expect(unbundle({ type: 'candidates', candidates: 'nonsense' })).toEqual([]);
    expect(unbundle({ type: 'offer', sdp: 'v=0' })).toEqual([{ type: 'offer', sdp: 'v=0' }]);
  });
});
