// The bot on Azure, for `atk provision` (m365agents.yml, arm/deploy): an App Service on Linux
// running `python app.py` (Python 3.11) behind App Service's TLS, the Azure Bot that sends it Teams'
// messages, and (BOT_DATABASE=postgresql, the default) Azure Database for PostgreSQL.
// Parameters come from azure.parameters.json, filled from env/.env.<env>; the outputs are written
// back there (BOT_AZURE_APP_SERVICE_RESOURCE_ID, BOT_DOMAIN, BOT_ENDPOINT). Shape taken from
// Microsoft's Python bot templates (docs/deploy.md names them).

@description('Prefix of every resource name; unique per resource group, the same on every provision.')
@minLength(4)
@maxLength(30)
param resourceBaseName string = 'phoneconn${uniqueString(resourceGroup().id)}'

param location string = resourceGroup().location

@description('The bot\'s Microsoft Entra app (aadApp/create): its client id, secret and home tenant.')
param botAadAppClientId string
@secure()
param botAadAppClientSecret string
param botAadAppTenantId string

@maxLength(42)
param botDisplayName string = 'Phone Connector'

@description('App Service plan. B1 is the smallest with Always On, which the outbox sender needs.')
@allowed(['B1', 'B2', 'B3', 'S1', 'S2', 'S3', 'P0v3', 'P1v3', 'P2v3', 'P3v3'])
param webAppSku string = 'B1'

@description('postgresql: Azure Database for PostgreSQL (several instances, durable). sqlite: a file under /home, one instance, for a trial (docs/deploy.md).')
@allowed(['postgresql', 'sqlite'])
param database string = 'postgresql'

@description('PostgreSQL administrator. The password is generated on every provision and written only to the server and to the App Service setting DATABASE_URL, in the same deployment.')
param postgresAdminLogin string = 'phoneconnector'
@secure()
param postgresAdminPassword string = newGuid()

var usePostgres = database == 'postgresql'
var postgresDatabaseName = 'bot'

// A PostgreSQL flexible server's host is <name>.postgres.database.azure.com in Azure's public cloud.
var postgresSettings = [
  {
    name: 'DATABASE_URL'
    value: 'postgresql+asyncpg://${postgresAdminLogin}:${postgresAdminPassword}@${resourceBaseName}.postgres.database.azure.com:5432/${postgresDatabaseName}?ssl=require'
  }
]
var sqliteSettings = [
  {
    // /home survives restarts and deployments; see docs/deploy.md before relying on it.
    name: 'DATA_DIR'
    value: '/home/data'
  }
]
var databaseSettings = usePostgres ? postgresSettings : sqliteSettings

resource serverfarm 'Microsoft.Web/serverfarms@2021-02-01' = {
  kind: 'app,linux'
  location: location
  name: resourceBaseName
  sku: {
    name: webAppSku
  }
  properties: {
    reserved: true // Linux
  }
}

resource webApp 'Microsoft.Web/sites@2021-02-01' = {
  kind: 'app,linux'
  location: location
  name: resourceBaseName
  properties: {
    serverFarmId: serverfarm.id
    httpsOnly: true
    siteConfig: {
      linuxFxVersion: 'PYTHON|3.11'
      appCommandLine: 'python app.py'
      // One process that also runs the outbox sender and the reminders: keep it loaded.
      alwaysOn: true
      healthCheckPath: '/healthz'
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
      appSettings: concat(
        [
          {
            // Oryx installs requirements.txt when the zip arrives (azureAppService/zipDeploy).
            name: 'SCM_DO_BUILD_DURING_DEPLOYMENT'
            value: 'true'
          }
          {
            name: 'WEBSITES_CONTAINER_START_TIME_LIMIT'
            value: '900'
          }
          {
            // The built-in Python image sends requests to PORT (8000 unless set); the bot reads the same.
            name: 'PORT'
            value: '8000'
          }
          {
            // Behind App Service's front end; with MicrosoftAppId set every request is authenticated.
            name: 'HOST'
            value: '0.0.0.0'
          }
          {
            name: 'MicrosoftAppId'
            value: botAadAppClientId
          }
          {
            name: 'MicrosoftAppPassword'
            value: botAadAppClientSecret
          }
          {
            // New Azure Bots are single-tenant; the Entra app itself admits every organisation.
            name: 'MicrosoftAppType'
            value: 'SingleTenant'
          }
          {
            name: 'MicrosoftAppTenantId'
            value: botAadAppTenantId
          }
          {
            name: 'LOG_FORMAT'
            value: 'json'
          }
        ],
        databaseSettings
      )
    }
  }
}

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = if (usePostgres) {
  name: resourceBaseName
  location: location
  sku: {
    name: 'Standard_B1ms'
    tier: 'Burstable'
  }
  properties: {
    version: '16'
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    storage: {
      storageSizeGB: 32
    }
    backup: {
      backupRetentionDays: 7
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource postgresDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = if (usePostgres) {
  parent: postgres
  name: postgresDatabaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

// 0.0.0.0-0.0.0.0 is Azure's "allow Azure services" rule: the App Service's outbound addresses
// are shared and change, so a narrower rule would break on a scale-out.
resource postgresFromAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (usePostgres) {
  parent: postgres
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

// The Azure Bot: Teams sends the messages of the bot's Entra app to the App Service.
module azureBotRegistration './botRegistration/azurebot.bicep' = {
  name: 'Azure-Bot-registration'
  params: {
    resourceBaseName: resourceBaseName
    botAadAppClientId: botAadAppClientId
    botAadAppTenantId: botAadAppTenantId
    botAppDomain: webApp.properties.defaultHostName
    botDisplayName: botDisplayName
  }
}

// The output names become variables in env/.env.<env> (arm/deploy).
output BOT_AZURE_APP_SERVICE_RESOURCE_ID string = webApp.id
output BOT_DOMAIN string = webApp.properties.defaultHostName
output BOT_ENDPOINT string = 'https://${webApp.properties.defaultHostName}'
