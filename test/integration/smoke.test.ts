import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startGateway } from '../helpers/gateway-harness.js';

describe('gateway smoke', () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it('welcomes, delivers a published event and resumes', async () => {
    h = await startGateway();
    const a = await h.connect('u1');
    expect(a.frames[0]).toMatchObject({ type: 'welcome', data: { user_id: 'u1', seq: 0, resume: 'none' } });
    const pub = await h.publish({ user_id: 'u1', type: 'notification', data: { n: 1 } });
    expect(pub.status).toBe(202);
    const [ev] = await a.events(1);
    expect(ev).toMatchObject({ type: 'notification', seq: 1, data: { n: 1 } });
  });
});
