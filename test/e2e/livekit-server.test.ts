// The real livekit-server (from `npm run e2e:setup`) runs on loopback only and accepts a participant.
import { Room } from '@livekit/rtc-node';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRealLiveKitServer, type RealLiveKitServer } from '../../simulation/real-servers/livekit-server.js';

describe('real livekit-server on loopback', () => {
  let lk: RealLiveKitServer;
  beforeAll(async () => {
    lk = await startRealLiveKitServer();
  });
  afterAll(async () => {
    await lk?.stop();
  });

  it('binds to 127.0.0.1 only and hands out no public STUN server', async () => {
    expect(new URL(lk.url).hostname).toBe('127.0.0.1');
    expect(lk.output()).not.toMatch(/stun\.l\.google\.com/);
  });

  it('lets a participant with a signed token join, and lists the room', async () => {
    const token = new AccessToken(lk.apiKey, lk.apiSecret, { identity: 'smoke-caller' });
    token.addGrant({ roomJoin: true, room: 'smoke-room', canPublish: true, canSubscribe: true });
    const room = new Room();
    await room.connect(lk.url, await token.toJwt(), { autoSubscribe: true, dynacast: false });
    try {
      const rooms = await new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret).listRooms();
      expect(rooms.map((r) => r.name)).toContain('smoke-room');
      const participants = await new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret).listParticipants('smoke-room');
      expect(participants.map((p) => p.identity)).toEqual(['smoke-caller']);
    } finally {
      await room.disconnect();
    }
  });
});
