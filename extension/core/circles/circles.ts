import {
  MAX_CIRCLE_NAME,
  MAX_CIRCLES_PER_PEER,
  MAX_REVOKED_PER_CIRCLE,
  memberProofText,
  newerRevocations,
  revocationProofText,
  type MemberCredential,
  type RevocationList,
  type ShareWith,
} from '../../../protocol/circle-proof';
import { toBase64Url } from '../../../protocol/identity-proof';
import { memberCredentialSchema, revocationListSchema, type CirclesState } from '../../../protocol/signaling-messages';
import { z } from '../schema/zod';
import { PeerlaneError } from '../errors';

/**
 * Circles on the extension's side (`protocol/circle-proof.ts` says what is signed): the
 * circles this install owns (their keys), the ones it joined (their credentials) and the revocation
 * lists it knows, kept in `storage.local` under `circles`. The options page creates, invites, joins,
 * leaves and revokes; the background hands the result to signaling and keeps the lists signaling
 * pushes. Pure but for WebCrypto (`crypto.subtle`, in every browser context and in Node).
 *
 * A circle's private key is stored extractable (PKCS #8, base64url) in `storage.local`, which only
 * this extension reads: the options page and the background must both sign with it, and a
 * non-extractable key lives in one context's IndexedDB only.
 */
export const CIRCLES_STORAGE_KEY = 'circles';
/** An invite link: this prefix, then the credential as base64url JSON. Pasted into "Join a circle". */
export const INVITE_LINK_PREFIX = 'peerlane://join/';
const MAX_INVITES = 256;

const inviteSchema = z.object({
  invite: z.string().max(32),
  label: z.string().max(64),
  createdAt: z.number(),
  link: z.string().max(2048),
});
const ownedCircleSchema = z.object({
  circle: z.string().length(43),
  name: z.string().min(1).max(MAX_CIRCLE_NAME),
  privateKey: z.string().max(256),
  createdAt: z.number(),
  invites: z.array(inviteSchema).max(MAX_INVITES),
  revocation: revocationListSchema.nullable(),
});
const joinedCircleSchema = z.object({ credential: memberCredentialSchema, joinedAt: z.number(), owner: z.boolean() });
export const circlesStoreSchema = z.object({
  owned: z.array(ownedCircleSchema).max(MAX_CIRCLES_PER_PEER),
  joined: z.array(joinedCircleSchema).max(MAX_CIRCLES_PER_PEER),
  /** The newest revocation list known per circle (from signaling or the owner's own), whether or not this install is still in it. */
  revocations: z.array(revocationListSchema).max(MAX_CIRCLES_PER_PEER * 2),
});
export type CirclesStore = z.infer<typeof circlesStoreSchema>;
export type OwnedCircle = z.infer<typeof ownedCircleSchema>;
export type JoinedCircle = z.infer<typeof joinedCircleSchema>;

export const EMPTY_CIRCLES: CirclesStore = { owned: [], joined: [], revocations: [] };

/** A damaged stored value reads as no circles (never as someone else's). */
export function parseCircles(stored: unknown): CirclesStore {
  const parsed = circlesStoreSchema.safeParse(stored);
  return parsed.success ? parsed.data : structuredClone(EMPTY_CIRCLES);
}

const ED25519 = { name: 'Ed25519' } as const;

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(binary, (char) => char.charCodeAt(0));
  } catch {
    return null;
  }
}

const encode = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text);

async function sign(privateKey: string, text: string): Promise<string> {
  const pkcs8 = fromBase64Url(privateKey);
  if (!pkcs8) throw new PeerlaneError('bad_message', "this circle's stored key is damaged");
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, false, ['sign']);
  return toBase64Url(new Uint8Array(await crypto.subtle.sign(ED25519, key, encode(text))));
}

/** Whether the circle's key signed `text`. */
export async function signedByCircle(circle: string, text: string, signature: string): Promise<boolean> {
  const raw = fromBase64Url(circle);
  const bytes = fromBase64Url(signature);
  if (raw?.length !== 32 || bytes?.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey('raw', raw, ED25519, false, ['verify']);
    return await crypto.subtle.verify(ED25519, key, bytes, encode(text));
  } catch {
    return false;
  }
}

const randomId = (): string => toBase64Url(crypto.getRandomValues(new Uint8Array(12)));

async function credentialFor(owned: Pick<OwnedCircle, 'circle' | 'name' | 'privateKey'>): Promise<MemberCredential> {
  const unsigned = { circle: owned.circle, name: owned.name, invite: randomId() };
  return { ...unsigned, signature: await sign(owned.privateKey, memberProofText(unsigned)) };
}

export function inviteLink(credential: MemberCredential): string {
  return INVITE_LINK_PREFIX + toBase64Url(encode(JSON.stringify(credential)));
}

/** A new circle named `name`, owned here; the owner is its first member. */
export async function createCircle(store: CirclesStore, name: string, now: number): Promise<CirclesStore> {
  const trimmed = name.trim();
  if (trimmed === '' || trimmed.length > MAX_CIRCLE_NAME)
    throw new PeerlaneError('bad_message', `a circle's name is 1 to ${MAX_CIRCLE_NAME} characters`);
  if (store.owned.length >= MAX_CIRCLES_PER_PEER || store.joined.length >= MAX_CIRCLES_PER_PEER)
    throw new PeerlaneError('bad_message', `at most ${MAX_CIRCLES_PER_PEER} circles`);
  const pair = await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify']);
  const circle = toBase64Url(new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)));
  const privateKey = toBase64Url(new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey)));
  const owned: OwnedCircle = { circle, name: trimmed, privateKey, createdAt: now, invites: [], revocation: null };
  const credential = await credentialFor(owned);
  return {
    ...store,
    owned: [...store.owned, owned],
    joined: [...store.joined, { credential, joinedAt: now, owner: true }],
  };
}

/** An invite for one person (`label` is only for the owner's list): a link that carries a fresh credential. */
export async function invite(
  store: CirclesStore,
  circle: string,
  label: string,
  now: number,
): Promise<{ store: CirclesStore; link: string }> {
  const owned = store.owned.find((entry) => entry.circle === circle);
  if (!owned) throw new PeerlaneError('bad_message', "only the circle's owner can invite");
  if (owned.invites.length >= MAX_INVITES)
    throw new PeerlaneError('bad_message', `at most ${MAX_INVITES} invites per circle`);
  const credential = await credentialFor(owned);
  const link = inviteLink(credential);
  const updated = {
    ...owned,
    invites: [...owned.invites, { invite: credential.invite, label: label.trim().slice(0, 64), createdAt: now, link }],
  };
  return { store: replaceOwned(store, updated), link };
}

/** Reads an invite link (or the bare code) and checks its signature: a clear error for anything else. */
export async function readInviteLink(text: string): Promise<MemberCredential> {
  const code = text.trim().replace(INVITE_LINK_PREFIX, '');
  const bytes = fromBase64Url(code);
  let value: unknown;
  try {
    value = bytes ? JSON.parse(new TextDecoder().decode(bytes)) : null;
  } catch {
    value = null;
  }
  const parsed = memberCredentialSchema.safeParse(value);
  if (!parsed.success) throw new PeerlaneError('bad_message', 'this is not a Peerlane invite link');
  if (!(await signedByCircle(parsed.data.circle, memberProofText(parsed.data), parsed.data.signature)))
    throw new PeerlaneError('bad_message', 'this invite link is not signed by its circle (altered or damaged)');
  return parsed.data;
}

export async function join(store: CirclesStore, link: string, now: number): Promise<CirclesStore> {
  const credential = await readInviteLink(link);
  const list = store.revocations.find((entry) => entry.circle === credential.circle);
  if (list?.revoked.includes(credential.invite))
    throw new PeerlaneError('bad_message', `this invite to "${credential.name}" was revoked by its owner`);
  const others = store.joined.filter((entry) => entry.credential.circle !== credential.circle);
  if (others.length >= MAX_CIRCLES_PER_PEER)
    throw new PeerlaneError('bad_message', `at most ${MAX_CIRCLES_PER_PEER} circles`);
  return { ...store, joined: [...others, { credential, joinedAt: now, owner: false }] };
}

/** Leaves a circle (an owner leaving also gives the circle up: its key is forgotten). */
export function leave(store: CirclesStore, circle: string): CirclesStore {
  return {
    ...store,
    joined: store.joined.filter((entry) => entry.credential.circle !== circle),
    owned: store.owned.filter((entry) => entry.circle !== circle),
  };
}

/** Revokes one invite: a new list, one version up, signed with the circle's key. */
export async function revoke(store: CirclesStore, circle: string, inviteId: string): Promise<CirclesStore> {
  const owned = store.owned.find((entry) => entry.circle === circle);
  if (!owned) throw new PeerlaneError('bad_message', "only the circle's owner can revoke");
  const previous = newestList(store, circle);
  if (previous?.revoked.includes(inviteId)) return store;
  const revoked = [...(previous?.revoked ?? []), inviteId].slice(-MAX_REVOKED_PER_CIRCLE);
  const unsigned = { circle, version: (previous?.version ?? 0) + 1, revoked };
  const list: RevocationList = { ...unsigned, signature: await sign(owned.privateKey, revocationProofText(unsigned)) };
  return withList(replaceOwned(store, { ...owned, revocation: list }), list);
}

/** A list from outside (signaling): kept when signed by its circle and newer than the one known. Null: nothing changes. */
export async function acceptRevocations(store: CirclesStore, list: RevocationList): Promise<CirclesStore | null> {
  const current = newestList(store, list.circle);
  if (newerRevocations(current, list) !== list || current === list) return null;
  if (!(await signedByCircle(list.circle, revocationProofText(list), list.signature))) return null;
  return withList(store, list);
}

/** Whether this install's own credential for `circle` was revoked (the UI says so; signaling no longer counts it). */
export function isRevoked(store: CirclesStore, credential: MemberCredential): boolean {
  return newestList(store, credential.circle)?.revoked.includes(credential.invite) ?? false;
}

/** What signaling is told: credentials not known to be revoked, every list held, whom the exit serves. */
export function circlesStateFor(store: CirclesStore, shareWith: ShareWith): CirclesState {
  return {
    credentials: store.joined.filter((entry) => !isRevoked(store, entry.credential)).map((entry) => entry.credential),
    revocations: store.revocations,
    shareWith,
  };
}

function newestList(store: CirclesStore, circle: string): RevocationList | undefined {
  return store.revocations.find((entry) => entry.circle === circle);
}

function withList(store: CirclesStore, list: RevocationList): CirclesStore {
  const others = store.revocations.filter((entry) => entry.circle !== list.circle);
  return { ...store, revocations: [...others, list].slice(-MAX_CIRCLES_PER_PEER * 2) };
}

function replaceOwned(store: CirclesStore, owned: OwnedCircle): CirclesStore {
  return { ...store, owned: store.owned.map((entry) => (entry.circle === owned.circle ? owned : entry)) };
}

/** What the popup shows of one joined circle: confirmed by signaling, waiting for it, revoked or refused. */
export type CircleStatus = 'verified' | 'pending' | 'revoked' | 'refused';
export function circleStatus(
  store: CirclesStore,
  credential: MemberCredential,
  membership: { member: string[]; refused: { circle: string; reason: string }[] } | null,
): CircleStatus {
  if (isRevoked(store, credential)) return 'revoked';
  const refused = membership?.refused.find((entry) => entry.circle === credential.circle);
  if (refused) return refused.reason === 'revoked' ? 'revoked' : 'refused';
  return membership?.member.includes(credential.circle) ? 'verified' : 'pending';
}
