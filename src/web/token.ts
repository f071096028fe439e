/**
 * Issues LiveKit room-join tokens for the browser.
 *
 * The grants are the minimum a voice caller needs: join this one room, publish
 * the microphone only, subscribe to the agent, and send data (text streams).
 * No roomAdmin / roomCreate / roomList / recorder / agent grants, and no
 * permission to update its own metadata or attributes (the page reads the
 * agent's attributes, it never writes its own).
 * The room configuration dispatches the voice agent into the room, so the
 * worker receives a job as soon as the caller joins.
 */
import { AccessToken, RoomAgentDispatch, RoomConfiguration, TrackSource } from 'livekit-server-sdk';

export interface TokenRequest {
  room: string;
  identity: string;
}

export interface TokenSettings {
  apiKey: string;
  apiSecret: string;
  agentName: string;
  ttlSeconds: number;
}

export async function issueRoomToken(settings: TokenSettings, request: TokenRequest): Promise<string> {
  const token = new AccessToken(settings.apiKey, settings.apiSecret, {
    identity: request.identity,
    name: request.identity,
    ttl: settings.ttlSeconds,
  });
  token.addGrant({
    room: request.room,
    roomJoin: true,
    canPublish: true,
    canPublishSources: [TrackSource.MICROPHONE],
    canSubscribe: true,
    canPublishData: true,
    canUpdateOwnMetadata: false,
  });
  token.roomConfig = new RoomConfiguration({
    agents: [new RoomAgentDispatch({ agentName: settings.agentName })],
  });
  return token.toJwt();
}
