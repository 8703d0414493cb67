// Ada Admin, in the local Teams client, chooses French ("langue", then "français") and adds a phone
// user entirely in French: "ajouter un utilisateur", the form, Vérifier, Ajouter l'utilisateur,
// then the progress card until it says Terminée. One JSON line per step on stdout.
'use strict';
const { CARD, emit, field, fields, scenario, typeMessage, waitForText } = require('./lib');

// The extension's label, the catalog's French (i18n/fr_CA/cards.po) for "SIP user (PBX extension)".
const EXTENSION = 'Utilisateur SIP (poste du PBX)';

async function answered(page, text, expected) {
  await typeMessage(page, text);
  await page.waitForFunction((words) => document.body.innerText.includes(words), expected, {
    timeout: 30000,
  });
}

scenario(async (page, shot, opts) => {
  const welcome = page.locator(CARD, { hasText: 'Hi Ada Admin' }).last();
  await waitForText(page, welcome, ['Hi Ada Admin']);
  await answered(page, 'langue', 'Which language do you want me to use?');
  await answered(page, 'français', 'je vous écrirai en français');
  emit({ event: 'step', step: 'french-chosen', shot: await shot('french-chosen') });

  const before = await page.locator(CARD).count();
  await typeMessage(page, 'ajouter un utilisateur');
  await page.waitForFunction((n) => document.querySelectorAll('.ac-adaptiveCard').length > n, before);
  const card = page.locator(CARD).last();
  const formText = await waitForText(page, card, ['Ajouter un utilisateur téléphonique à Contoso', 'Vérifier']);
  emit({ event: 'step', step: 'form', text: formText, fields: await fields(card), shot: await shot('form', card) });

  const combos = card.locator('input[role="combobox"]');
  await combos.nth(1).click();
  await page.getByRole('option', { name: 'CA Central', exact: true }).click();
  await combos.nth(2).click();
  await combos.nth(2).pressSequentially('Adele', { delay: 40 });
  const option = page.getByRole('option', { name: /Adele Vance/ }).first();
  await option.waitFor();
  await option.click();
  await field(card, EXTENSION).fill(opts.extension || '105');
  emit({ event: 'step', step: 'filled', text: await card.innerText(), shot: await shot('filled', card) });

  await card.getByRole('button', { name: 'Vérifier', exact: true }).click();
  const reviewText = await waitForText(page, card, ['Vérifier et ajouter']);
  emit({ event: 'step', step: 'review', text: reviewText, shot: await shot('review', card) });

  await card.getByRole('button', { name: "Ajouter l'utilisateur", exact: true }).click();
  const doneText = await waitForText(page, card, ['Terminée'], 60000);
  emit({ event: 'step', step: 'done', text: doneText, shot: await shot('done', card) });
});
