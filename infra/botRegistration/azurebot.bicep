// The Azure Bot for the bot's Microsoft Entra app, with its Microsoft Teams channel: where Teams
// sends the bot's messages (https://<App Service host>/api/messages). Used by ../azure.bicep; on
// its own it registers a bot hosted elsewhere (give botAppDomain the host).

@minLength(4)
@maxLength(30)
param resourceBaseName string

@maxLength(42)
param botDisplayName string

param botServiceName string = resourceBaseName
param botServiceSku string = 'F0'
param botAadAppClientId string
param botAadAppTenantId string
param botAppDomain string

resource botService 'Microsoft.BotService/botServices@2021-03-01' = {
  kind: 'azurebot'
  location: 'global'
  name: botServiceName
  properties: {
    displayName: botDisplayName
    endpoint: 'https://${botAppDomain}/api/messages'
    msaAppId: botAadAppClientId
    // Azure no longer creates multi-tenant bots: single-tenant in the Entra app's home tenant. The
    // app's sign-in audience (AzureADMultipleOrgs, aad.manifest.json) still lets every
    // organisation install it and consent to its Microsoft Graph permissions.
    msaAppType: 'SingleTenant'
    msaAppTenantId: botAadAppTenantId
  }
  sku: {
    name: botServiceSku
  }
}

resource botServiceMsTeamsChannel 'Microsoft.BotService/botServices/channels@2021-03-01' = {
  parent: botService
  location: 'global'
  name: 'MsTeamsChannel'
  properties: {
    channelName: 'MsTeamsChannel'
  }
}
