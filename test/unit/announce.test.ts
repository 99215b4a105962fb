import assert from 'node:assert/strict';
import { changeAnnounced, type EventBus } from '../../src/events/bus.js';

/** A bus that records what it was asked to do, with or without a channel for statements to announce on. */
function recordingBus(channel: string | undefined) {
  const calls: string[] = [];
  const bus = {
    channel,
    wake: (key: string) => calls.push(`wake ${key}`),
    publish: async (key: string) => {
      calls.push(`publish ${key}`);
    },
  } as unknown as EventBus;
  return { bus, calls };
}

/** PostgreSQL's refusal of a statement whose notification does not fit the NOTIFY queue (at commit). */
const queueFull = () => Object.assign(new Error('too many notifications in the NOTIFY queue'), { code: '54000' });

/**
 * A change announced by its own statement must never be lost to its announcement: where PostgreSQL refuses the
 * notification (a full NOTIFY queue undoes the whole statement at commit), the change is made again without it and
 * announced the ordinary way. (The queue holds gigabytes: this is the rule's logic, with the refusal PostgreSQL sends.)
 */
describe('a change that announces itself', () => {
  it('is announced by its own statement where the bus has a channel, then wakes this instance', async () => {
    const { bus, calls } = recordingBus('handoff');
    const result = await changeAnnounced(
      bus,
      async (channel) => {
        calls.push(`change on ${channel}`);
        return true;
      },
      () => 'k1',
    );
    assert.equal(result, true);
    assert.deepEqual(calls, ['change on handoff', 'wake k1']);
  });

  it('is made again unannounced and then published when PostgreSQL refuses its notification', async () => {
    const { bus, calls } = recordingBus('handoff');
    const result = await changeAnnounced(
      bus,
      async (channel) => {
        calls.push(`change on ${channel}`);
        if (channel) throw queueFull();
        return 'recorded';
      },
      (r) => (r === 'recorded' ? 'k2' : undefined),
    );
    assert.equal(result, 'recorded');
    assert.deepEqual(calls, ['change on handoff', 'change on undefined', 'publish k2']);
  });

  it('is not made again for any other failure', async () => {
    const { bus, calls } = recordingBus('handoff');
    await assert.rejects(
      changeAnnounced(
        bus,
        async (channel) => {
          calls.push(`change on ${channel}`);
          throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
        },
        () => 'k3',
      ),
      /deadlock/,
    );
    assert.deepEqual(calls, ['change on handoff']);
  });

  it('is published after it where there is no channel (embedded), and announced not at all when nothing changed', async () => {
    const { bus, calls } = recordingBus(undefined);
    await changeAnnounced(
      bus,
      async (channel) => calls.push(`change on ${channel}`),
      () => 'k4',
    );
    await changeAnnounced(
      bus,
      async () => false,
      (made) => (made ? 'k5' : undefined),
    );
    assert.deepEqual(calls, ['change on undefined', 'publish k4']);
  });
});
