// Ada Admin looks after Contoso's phone users in the local Teams client, as a new admin would:
// "phone users", Open Alex Wilber, Change (extension 106), Review, Change user, until Done; Alex
// again: Reset device password, Disable calling, Enable calling, each confirmed and followed to
// Done; Megan Bowen: Remove, until "extension 100 is free"; then "add user" puts Adele Vance on
// extension 100. Finally a partner's removal: Pat Partner (Northwind Voice, another tenant, so not
// in the playground's UI: played through its HTTP API, as scripts/demo-partner-request does) asks
// to remove Alex; Ada gets the approval card, clicks Approve, and the card updates to Done.
//
// Options (JSON, argv[2]): url, out, and language: "en" (default) or "fr". The playground always
// sends en-US, so in French Ada first types "langue", then "français", as a person would, and every
// text checked is the French of the catalog (i18n/fr_CA/*.po). Pat stays in English (his locale).
// One JSON line per step on stdout ({event: "step", step, text, shot, ...}), a screenshot each.
'use strict';
const { CARD, emit, field, fields, scenario, typeMessage, waitForText } = require('./lib');

// The demo world's fixed ids (services/seed/demo_world.json, README "The demo world").
const CONTOSO = '6f1c2b7e-8d0a-4c3e-9b5f-1a2d3c4e5f60';
const NORTHWIND = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const PAT = { id: 'user-pat-partner', name: 'Pat Partner', aadObjectId: '4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8' };
const CARD_TYPE = 'application/vnd.microsoft.card.adaptive';

// Every text this script types, clicks or waits for, in Ada's language. The French is the catalog's
// (i18n/fr_CA/*.po) for the English next to it; the test checks both against the catalog.
const TEXTS = {
  en: {
    phoneUsers: 'phone users',
    addUser: 'add user',
    listHeading: 'Phone users of Contoso',
    open: 'Open',
    userOf: 'Phone user of Contoso',
    change: 'Change',
    reset: 'Reset device password',
    disable: 'Disable calling',
    enable: 'Enable calling',
    remove: 'Remove',
    back: 'Back to the list',
    callingOff: 'Calling off',
    changeHeading: (name) => `Change ${name} in Contoso`,
    extensionLabel: 'SIP user (PBX extension)',
    review: 'Review',
    checkAndChange: 'Check and change',
    changeUser: 'Change user',
    done: 'Done.',
    changed: (name, ext) => `${name} now has extension ${ext}.`,
    resetHeading: (name) => `New device password for ${name}?`,
    resetConfirm: 'Reset the device password',
    resetDone: (name) => `${name}'s SIP device has a new password`,
    disableHeading: (name) => `Disable calling for ${name}?`,
    disableConfirm: 'Disable calling',
    disabled: (name) => `Calling is disabled for ${name}.`,
    enableHeading: (name) => `Enable calling for ${name}?`,
    enableConfirm: 'Enable calling',
    enabled: (name) => `Calling is enabled for ${name}.`,
    removeHeading: (name) => `Remove ${name}?`,
    becomesFree: (ext) => `extension ${ext} becomes free`,
    removeConfirm: 'Remove',
    removed: (name, ext) => `${name} is removed and extension ${ext} is free.`,
    cancel: 'Cancel',
    addHeading: 'Add a phone user to Contoso',
    checkAndAdd: 'Check and add',
    addConfirm: 'Add user',
    added: (upn, ext) => `${upn} can make and receive Teams calls on extension ${ext}.`,
    approvalHeading: (name) => `Remove ${name} (Contoso)`,
    askedBy: 'Pat Partner (Northwind Voice) asked for this',
    approve: 'Approve',
    reject: 'Reject',
    approvedBy: 'Approved by Ada Admin',
  },
  fr: {
    phoneUsers: 'utilisateurs téléphoniques',
    addUser: 'ajouter un utilisateur',
    listHeading: 'Utilisateurs téléphoniques de Contoso',
    open: 'Ouvrir',
    userOf: 'Utilisateur téléphonique de Contoso',
    change: 'Modifier',
    reset: 'Réinitialiser le mot de passe',
    disable: 'Désactiver les appels',
    enable: 'Activer les appels',
    remove: 'Retirer',
    back: 'Retour à la liste',
    callingOff: 'Appels désactivés',
    changeHeading: (name) => `Modifier ${name} dans Contoso`,
    extensionLabel: 'Utilisateur SIP (poste du PBX)',
    review: 'Vérifier',
    checkAndChange: 'Vérifier et modifier',
    changeUser: "Modifier l'utilisateur",
    done: 'Terminé.',
    changed: (name, ext) => `${name} a maintenant le poste ${ext}.`,
    resetHeading: (name) => `Nouveau mot de passe d'appareil pour ${name}?`,
    resetConfirm: "Réinitialiser le mot de passe de l'appareil",
    resetDone: (name) => `L'appareil SIP utilisé par ${name} a un nouveau mot de passe`,
    disableHeading: (name) => `Désactiver les appels pour ${name}?`,
    disableConfirm: 'Désactiver les appels',
    disabled: (name) => `Les appels sont désactivés pour ${name}.`,
    enableHeading: (name) => `Activer les appels pour ${name}?`,
    enableConfirm: 'Activer les appels',
    enabled: (name) => `Les appels sont activés pour ${name}.`,
    removeHeading: (name) => `Retirer ${name}?`,
    becomesFree: (ext) => `le poste ${ext} devient libre`,
    removeConfirm: 'Retirer',
    removed: (name, ext) => `Retrait terminé pour ${name}; le poste ${ext} est libre.`,
    cancel: 'Annuler',
    addHeading: 'Ajouter un utilisateur téléphonique à Contoso',
    checkAndAdd: 'Vérifier et ajouter',
    addConfirm: "Ajouter l'utilisateur",
    added: (upn, ext) => `${upn} peut faire et recevoir des appels Teams au poste ${ext}.`,
    approvalHeading: (name) => `Retirer ${name} (Contoso)`,
    askedBy: "Pat Partner (Northwind Voice) l'a demandé",
    approve: 'Approuver',
    reject: 'Refuser',
    approvedBy: 'Approuvée par Ada Admin',
  },
};

// -- Ada, in the browser -----------------------------------------------------------------------------

// Types `text` and returns the new card the bot answers with (the last card of the chat).
async function ask(page, text, expected) {
  const before = await page.locator(CARD).count();
  await typeMessage(page, text);
  await page.waitForFunction((n) => document.querySelectorAll('.ac-adaptiveCard').length > n, before);
  const card = page.locator(CARD).last();
  return { card, text: await waitForText(page, card, expected) };
}

async function answered(page, text, expected) {
  await typeMessage(page, text);
  await page.waitForFunction((words) => document.body.innerText.includes(words), expected, { timeout: 30000 });
}

function button(card, name) {
  return card.getByRole('button', { name, exact: true });
}

// The titles of the buttons a card shows, in order (the ones a person can see and click).
async function buttons(card) {
  return card.getByRole('button').evaluateAll((all) =>
    all.filter((b) => b.offsetParent !== null).map((b) => b.getAttribute('title') || b.innerText.trim()),
  );
}

async function step(name, card, shot, extra = {}) {
  const text = await card.innerText();
  emit({ event: 'step', step: name, text, buttons: await buttons(card), ...extra, shot: await shot(name, card) });
  return text;
}

// "phone users", then Open on `upn`'s row: the clicked card becomes that user's card.
async function openUser(page, shot, t, upn, name, label) {
  const { card } = await ask(page, t.phoneUsers, [t.listHeading, name]);
  await step(`${label}-list`, card, shot);
  const row = card.locator('.ac-container:not(.ac-adaptiveCard)', { hasText: upn });
  await button(row, t.open).click();
  await waitForText(page, card, [t.userOf, t.back]);
  await step(`${label}-user`, card, shot);
  return card;
}

// A confirmation card, its confirm button, then the same card until it says Done.
async function confirmAction(page, shot, t, card, label, { heading, confirm, done }) {
  await waitForText(page, card, [heading, t.cancel]);
  await step(`${label}-confirm`, card, shot);
  await button(card, confirm).click();
  await waitForText(page, card, [t.done, ...done], 60000);
  await step(`${label}-done`, card, shot);
}

async function chooseFrench(page, shot) {
  await answered(page, 'langue', 'Which language do you want me to use?');
  await answered(page, 'français', 'je vous écrirai en français');
  emit({ event: 'step', step: 'french-chosen', text: '', shot: await shot('french-chosen') });
}

async function changeAlex(page, shot, t) {
  const card = await openUser(page, shot, t, 'alex@contoso.example', 'Alex Wilber', 'change');
  await button(card, t.change).click();
  await waitForText(page, card, [t.changeHeading('Alex Wilber'), t.review]);
  const extension = field(card, t.extensionLabel);
  const before = await extension.inputValue();
  const shown = await fields(card); // as the form came, before Ada types
  await extension.fill('106');
  await step('change-form', card, shot, { extension: before, fields: shown });
  await button(card, t.review).click();
  await waitForText(page, card, [t.checkAndChange, t.changeUser]);
  await step('change-review', card, shot);
  await button(card, t.changeUser).click();
  await waitForText(page, card, [t.done, t.changed('Alex Wilber', '106')], 60000);
  await step('change-done', card, shot);
}

async function alexAction(page, shot, t, label, open, texts) {
  const card = await openUser(page, shot, t, 'alex@contoso.example', 'Alex Wilber', label);
  if (open === t.enable) await waitForText(page, card, [t.callingOff]); // his card says calling is off
  await button(card, open).click();
  await confirmAction(page, shot, t, card, label, texts);
}

async function removeMegan(page, shot, t) {
  const card = await openUser(page, shot, t, 'megan@contoso.example', 'Megan Bowen', 'remove');
  await button(card, t.remove).click();
  await confirmAction(page, shot, t, card, 'remove', {
    heading: t.removeHeading('Megan Bowen'),
    confirm: t.removeConfirm,
    done: [t.removed('Megan Bowen', '100')],
  });
}

async function addAdeleOn100(page, shot, t) {
  const { card, text } = await ask(page, t.addUser, [t.addHeading, t.review]);
  emit({ event: 'step', step: 'add-form', text, fields: await fields(card), shot: await shot('add-form', card) });
  const combos = card.locator('input[role="combobox"]');
  await combos.nth(1).click();
  await page.getByRole('option', { name: 'CA Central', exact: true }).click();
  await combos.nth(2).click();
  await combos.nth(2).pressSequentially('Adele', { delay: 40 });
  const option = page.getByRole('option', { name: /Adele Vance/ }).first();
  await option.waitFor();
  await option.click();
  await field(card, t.extensionLabel).fill('100');
  await button(card, t.review).click();
  await waitForText(page, card, [t.checkAndAdd, t.addConfirm]);
  await step('add-review', card, shot);
  await button(card, t.addConfirm).click();
  await waitForText(page, card, [t.done, t.added('Adele Vance, adele@contoso.example', '100')], 60000);
  await step('add-done', card, shot);
}

// -- Pat, through the playground's HTTP API ------------------------------------------------------------

// What a person sees on a card: text blocks, facts, labels, button titles (as the demo script reads it).
function cardText(node) {
  const parts = [];
  (function walk(n) {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== 'object') return;
    for (const key of ['text', 'title', 'label']) if (typeof n[key] === 'string') parts.push(n[key]);
    for (const fact of n.facts || []) parts.push(`${fact.title}: ${fact.value}`);
    for (const [key, value] of Object.entries(n)) {
      if (!['facts', 'fallback', 'refresh'].includes(key) && value && typeof value === 'object') walk(value);
    }
  })(node);
  return parts.join('\n');
}

function cardOf(message) {
  const found = (message.attachments || []).find((a) => a.contentType === CARD_TYPE);
  return found ? found.content : null;
}

// The Action.Execute buttons of a card (in its body's action sets too), in order.
function cardActions(card) {
  const found = [];
  (function walk(n) {
    if (Array.isArray(n)) return n.forEach(walk);
    if (!n || typeof n !== 'object') return;
    if (n.type === 'Action.Execute') found.push(n);
    for (const [key, value] of Object.entries(n)) {
      if (key !== 'fallback' && value && typeof value === 'object') walk(value);
    }
  })(card);
  return found;
}

// The playground's streams, read by a WebSocket of the page (Node 20 has no WebSocket): the bot's
// messages to every conversation, and its log (which holds the bot's answer to each invoke).
async function listen(page, base) {
  const ws = base.replace(/^http/, 'ws');
  await page.evaluate(async (wsBase) => {
    const seen = { messages: [], invokes: {} };
    window.__partnerStreams = seen;
    const open = (path, onEvent) =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(wsBase + path);
        socket.onmessage = (m) => {
          try {
            onEvent(JSON.parse(m.data));
          } catch (e) {
            /* not JSON: not ours */
          }
        };
        socket.onopen = () => resolve();
        socket.onerror = () => reject(new Error(`WebSocket ${path} failed`));
      });
    await open('/_ws_conversation/v1/conversations/stream', (e) => {
      if (e.action === 'createMessage' || e.action === 'updateMessage') seen.messages.push(e);
    });
    await open('/_ws/log/stream', (e) => {
      const log = e.log || {};
      const body = (log.request || {}).body || {};
      if (e.logAction === 'appendLog' && body.type === 'invoke' && body.id && log.response) {
        seen.invokes[body.id] = log.response;
      }
    });
  }, ws);
}

class Partner {
  constructor(page, base, conversationId) {
    this.page = page;
    this.base = base;
    this.conversationId = conversationId;
    this.serviceUrl = `http://localhost:${new URL(base).port}/_connector`;
    this.n = 0;
  }

  activity(fields) {
    this.n += 1;
    return {
      id: `pat-${Date.now()}-${this.n}`,
      channelId: 'msteams',
      serviceUrl: this.serviceUrl,
      from: PAT,
      recipient: { id: '28:teams-phone-connector-local', name: 'Phone Connector' },
      conversation: { id: this.conversationId, conversationType: 'personal', tenantId: NORTHWIND },
      channelData: { tenant: { id: NORTHWIND } },
      locale: 'en-US',
      ...fields,
    };
  }

  async send(activity) {
    const response = await fetch(`${this.base}/_internal/v1/customActivities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(activity),
    });
    if (response.status !== 200) throw new Error(`the playground answered ${response.status}: ${await response.text()}`);
  }

  async poll(find, what, timeout = 30000) {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const seen = await this.page.evaluate(() => window.__partnerStreams);
      const found = find(seen);
      if (found) return found;
      await this.page.waitForTimeout(200);
    }
    const seen = await this.page.evaluate(() => window.__partnerStreams);
    const got = seen.messages
      .filter((e) => e.actionConversationId === this.conversationId)
      .map((e) => `${e.action}: ${(e.message.text || cardText(cardOf(e.message))).slice(0, 200)}`);
    throw new Error(`Pat: no ${what} within ${timeout / 1000} s; his chat got:\n${got.join('\n')}`);
  }

  // The bot's messages to Pat's conversation since `mark` (createMessage frames).
  messagesSince(seen, mark) {
    return seen.messages
      .slice(mark)
      .filter((e) => e.action === 'createMessage' && e.actionConversationId === this.conversationId)
      .map((e) => e.message);
  }

  async mark() {
    return this.page.evaluate(() => window.__partnerStreams.messages.length);
  }

  async say(text, expected) {
    const mark = await this.mark();
    await this.send(this.activity({ type: 'message', text }));
    return this.poll(
      (seen) => this.messagesSince(seen, mark).find((m) => cardText(cardOf(m)).includes(expected)),
      `card "${expected}" after "${text}"`,
    );
  }

  async told(expected, mark) {
    return this.poll(
      (seen) => this.messagesSince(seen, mark).find((m) => (m.text || '').includes(expected)),
      `message "${expected}"`,
      60000,
    );
  }

  // Clicks the button `title` on `card` (of message `messageId`) as Teams does; returns the bot's card.
  async click(messageId, card, title, pick = () => true, inputs = {}) {
    const action = cardActions(card).find((a) => a.title === title && pick(a));
    if (!action) throw new Error(`Pat: no "${title}" button on:\n${cardText(card)}`);
    const activity = this.activity({
      type: 'invoke',
      name: 'adaptiveCard/action',
      replyToId: messageId,
      value: { action: { type: 'Action.Execute', verb: action.verb, data: { ...inputs, ...(action.data || {}) } }, trigger: 'manual' },
    });
    await this.send(activity);
    const answer = await this.poll((seen) => seen.invokes[activity.id], `answer to "${title}"`);
    const body = answer.body || {};
    if (answer.statusCode !== 200 || body.type !== CARD_TYPE) {
      throw new Error(`Pat: the bot answered "${title}" with ${JSON.stringify(answer).slice(0, 300)}`);
    }
    return body.value;
  }
}

// Pat asks to remove Alex Wilber (extension 106 by now); the approval card goes to Contoso's admins.
async function partnerAsksToRemoveAlex(page, opts) {
  const config = await (await fetch(`${opts.url}/_internal/v1/config`)).json();
  const chat = config.config.groupChats[0];
  await listen(page, opts.url);
  const pat = new Partner(page, opts.url, chat.id);
  const mark = await pat.mark();
  const picker = await pat.say('phone users alex', 'Whose phone users?');
  const messageId = picker.messageId;
  const choices = cardOf(picker).body.flatMap((e) => e.choices || []);
  const contoso = choices.find((c) => c.title === 'Contoso');
  if (!contoso || contoso.value !== CONTOSO) throw new Error(`Pat is not offered Contoso: ${JSON.stringify(choices)}`);
  const listing = await pat.click(messageId, cardOf(picker), 'Next', () => true, { enterpriseId: contoso.value });
  const alex = await pat.click(messageId, listing, 'Open', (a) => (a.data || {}).upn === 'alex@contoso.example');
  const confirm = await pat.click(messageId, alex, 'Remove');
  const asked = await pat.click(messageId, confirm, 'Remove');
  const told = await pat.told('an approval card went to', mark);
  return {
    pat,
    chatName: chat.name,
    texts: { user: cardText(alex), confirm: cardText(confirm), asked: cardText(asked), told: told.text },
    mark,
  };
}

// -- the scenario ---------------------------------------------------------------------------------------

scenario(async (page, shot, opts) => {
  const language = opts.language || 'en';
  const t = TEXTS[language];
  if (!t) throw new Error(`language must be one of ${Object.keys(TEXTS).join(', ')}`);

  const welcome = page.locator(CARD, { hasText: 'Hi Ada Admin' }).last();
  await waitForText(page, welcome, ['Hi Ada Admin']);
  if (language === 'fr') await chooseFrench(page, shot);

  await changeAlex(page, shot, t);
  await alexAction(page, shot, t, 'reset', t.reset, {
    heading: t.resetHeading('Alex Wilber'),
    confirm: t.resetConfirm,
    done: [t.resetDone('Alex Wilber')],
  });
  await alexAction(page, shot, t, 'disable', t.disable, {
    heading: t.disableHeading('Alex Wilber'),
    confirm: t.disableConfirm,
    done: [t.disabled('Alex Wilber')],
  });
  await alexAction(page, shot, t, 'enable', t.enable, {
    heading: t.enableHeading('Alex Wilber'),
    confirm: t.enableConfirm,
    done: [t.enabled('Alex Wilber')],
  });
  await removeMegan(page, shot, t);
  await addAdeleOn100(page, shot, t);

  // The partner's removal: Pat asks, Ada approves in the playground.
  const partner = await partnerAsksToRemoveAlex(page, opts);
  // Pat's side meanwhile: the playground shows his conversation as its group chat.
  await page.getByText(partner.chatName, { exact: true }).first().click();
  const waiting = page.locator(CARD, { hasText: 'Waiting for a global admin of Contoso' }).last();
  const waitingText = await waitForText(page, waiting, ['Remove Alex Wilber', 'Waiting for a global admin of Contoso']);
  emit({ event: 'step', step: 'partner-asked', text: waitingText, partner: partner.texts, shot: await shot('partner-asked', waiting) });
  await page.getByText('Personal Chat', { exact: true }).first().click();
  const approval = page.locator(CARD, { hasText: t.askedBy }).last();
  await approval.waitFor({ timeout: 60000 });
  await waitForText(page, approval, [t.approvalHeading('Alex Wilber'), t.approve, t.reject]);
  const approvalCards = await page.locator(CARD, { hasText: t.askedBy }).count();
  await step('approval-card', approval, shot, { approvalCards });
  await button(approval, t.approve).click();
  await waitForText(page, approval, [t.approvedBy, t.done, t.removed('Alex Wilber', '106')], 60000);
  await step('approved-done', approval, shot);

  // Pat's side: the playground shows his conversation as its group chat; his card followed too.
  const done = await partner.pat.told('Done: your request', partner.mark);
  const approvedTold = await partner.pat.told('approved your request', partner.mark);
  await page.getByText(partner.chatName, { exact: true }).first().click();
  const patCard = page.locator(CARD, { hasText: 'Alex Wilber is removed' }).last();
  await waitForText(page, patCard, ['Approved by Ada Admin', 'Done.']);
  emit({
    event: 'step',
    step: 'partner-side',
    text: await patCard.innerText(),
    told: [approvedTold.text, done.text],
    shot: await shot('partner-side', page.getByText('Done: your request').last()),
  });
  await page.getByText('Personal Chat', { exact: true }).first().click();
  await page.locator(CARD, { hasText: t.askedBy }).last().waitFor();

  // The list at the end: Adele on 100; Alex and Megan gone.
  const { card } = await ask(page, t.phoneUsers, [t.listHeading, 'Adele Vance']);
  await step('final-list', card, shot);
});
