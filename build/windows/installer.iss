; Inno Setup script for the Windows installer (build on Windows; see docs/packaging.md).
; Installs the one-folder PyInstaller bundle per machine, adds Start-menu and desktop shortcuts,
; runs the offline WebView2 runtime installer when WebView2 is missing, and on uninstall removes
; the program but keeps patient data (the per-user data folder) unless the user ticks the box.

#define AppName "CXR Workstation"
#define AppVersion "0.1.0"
#define BundleDir "..\dist\CXRWorkstation"

[Setup]
AppId={{6D1E2F3A-8C4B-4E7A-9B1C-5A2D7E0C41F9}
AppName={#AppName}
AppVersion={#AppVersion}
DefaultDirName={autopf}\CXR Workstation
DefaultGroupName={#AppName}
PrivilegesRequired=admin
ArchitecturesInstallIn64BitMode=x64compatible
OutputBaseFilename=CXRWorkstation-{#AppVersion}-setup
Compression=lzma2/ultra64
SolidCompression=yes
DiskSpanning=no
UninstallDisplayIcon={app}\CXRWorkstation.exe
SetupIconFile=..\icons\cxr-workstation.ico

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion
; Microsoft's offline "Evergreen Standalone Installer" for the WebView2 runtime, downloaded once
; on the build machine into build\windows\ (it is not redistributed in this repository).
Source: "MicrosoftEdgeWebView2RuntimeInstallerX64.exe"; DestDir: "{tmp}"; Flags: deleteafterinstall; Check: NeedsWebView2

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\CXRWorkstation.exe"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\CXRWorkstation.exe"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"

[Run]
Filename: "{tmp}\MicrosoftEdgeWebView2RuntimeInstallerX64.exe"; Parameters: "/silent /install"; StatusMsg: "Installing the WebView2 runtime..."; Check: NeedsWebView2
Filename: "{app}\CXRWorkstation.exe"; Description: "Start {#AppName}"; Flags: nowait postinstall skipifsilent

[Code]
var
  RemoveDataCheckbox: TNewCheckBox;

function NeedsWebView2: Boolean;
var
  Version: String;
begin
  Result := not (RegQueryStringValue(HKLM, 'SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}', 'pv', Version)
    or RegQueryStringValue(HKCU, 'Software\Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}', 'pv', Version));
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  DataDir: String;
begin
  if CurUninstallStep = usPostUninstall then
  begin
    DataDir := ExpandConstant('{localappdata}\CXRWorkstation');
    if DirExists(DataDir) and
       (MsgBox('Also delete all patient data, images, reports and backups settings in ' + DataDir + '?' + #13#10 +
               'Choose No to keep them (recommended unless this computer is being retired).',
               mbConfirmation, MB_YESNO or MB_DEFBUTTON2) = IDYES) then
      DelTree(DataDir, True, True, True);
  end;
end;
