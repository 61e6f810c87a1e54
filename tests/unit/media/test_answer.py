"""The answer file against literal expectations: Windows 11 on UEFI (GPT: EFI, MSR, Windows;
the image by name; sysprep at the end) and Windows Server 2022 on BIOS (MBR: System Reserved,
Windows; the image by index; a product key; a shutdown instead of sysprep). Passwords appear
only in the WSIM hiding (base64 of UTF-16LE password + suffix), never as the literal."""

from __future__ import annotations

import base64

from reconciler.media.answer import AnswerFile, mask, render

PASSWORD = "Pa55-w0rd!"
KEY = "VDYBN-27WPP-V4HQT-9VMD4-VMK7H"

WINDOWS_11_UEFI = AnswerFile("UEFI", "Windows 11 Pro", None, "ko-KR", "ko-KR", "Korea Standard Time",
                             "*", PASSWORD, None,
                             ["powershell -Command Set-ExecutionPolicy RemoteSigned -Force"], True)
SERVER_2022_BIOS = AnswerFile("BIOS", None, 2, "en-US", "0412:00000412", "UTC", "WIN2022", PASSWORD,
                              KEY, [], False)

EXPECTED_UEFI = r"""<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">
  <settings pass="windowsPE">
    <component name="Microsoft-Windows-International-Core-WinPE" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <SetupUILanguage><UILanguage>ko-KR</UILanguage></SetupUILanguage>
      <InputLocale>ko-KR</InputLocale>
      <SystemLocale>ko-KR</SystemLocale>
      <UILanguage>ko-KR</UILanguage>
      <UserLocale>ko-KR</UserLocale>
    </component>
    <component name="Microsoft-Windows-PnpCustomizationsWinPE" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <DriverPaths>
        <PathAndCredentials wcm:action="add" wcm:keyValue="1"><Path>D:\$WinPEDriver$</Path></PathAndCredentials>
        <PathAndCredentials wcm:action="add" wcm:keyValue="2"><Path>E:\$WinPEDriver$</Path></PathAndCredentials>
        <PathAndCredentials wcm:action="add" wcm:keyValue="3"><Path>F:\$WinPEDriver$</Path></PathAndCredentials>
      </DriverPaths>
    </component>
    <component name="Microsoft-Windows-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <DiskConfiguration>
        <Disk wcm:action="add">
          <DiskID>0</DiskID>
          <WillWipeDisk>true</WillWipeDisk>
          <CreatePartitions>
            <CreatePartition wcm:action="add"><Order>1</Order><Type>EFI</Type><Size>260</Size></CreatePartition>
            <CreatePartition wcm:action="add"><Order>2</Order><Type>MSR</Type><Size>16</Size></CreatePartition>
            <CreatePartition wcm:action="add"><Order>3</Order><Type>Primary</Type><Extend>true</Extend></CreatePartition>
          </CreatePartitions>
          <ModifyPartitions>
            <ModifyPartition wcm:action="add"><Order>1</Order><PartitionID>1</PartitionID><Format>FAT32</Format><Label>System</Label></ModifyPartition>
            <ModifyPartition wcm:action="add"><Order>2</Order><PartitionID>3</PartitionID><Format>NTFS</Format><Label>Windows</Label><Letter>C</Letter></ModifyPartition>
          </ModifyPartitions>
        </Disk>
      </DiskConfiguration>
      <ImageInstall>
        <OSImage>
          <InstallFrom>
            <MetaData wcm:action="add"><Key>/IMAGE/NAME</Key><Value>Windows 11 Pro</Value></MetaData>
          </InstallFrom>
          <InstallTo><DiskID>0</DiskID><PartitionID>3</PartitionID></InstallTo>
        </OSImage>
      </ImageInstall>
      <UserData>
        <AcceptEula>true</AcceptEula>
      </UserData>
    </component>
  </settings>
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <ComputerName>*</ComputerName>
      <TimeZone>Korea Standard Time</TimeZone>
    </component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-International-Core" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <InputLocale>ko-KR</InputLocale>
      <SystemLocale>ko-KR</SystemLocale>
      <UILanguage>ko-KR</UILanguage>
      <UserLocale>ko-KR</UserLocale>
    </component>
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <OOBE>
        <HideEULAPage>true</HideEULAPage>
        <HideOEMRegistrationScreen>true</HideOEMRegistrationScreen>
        <HideOnlineAccountScreens>true</HideOnlineAccountScreens>
        <HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>
        <HideLocalAccountScreen>true</HideLocalAccountScreen>
        <ProtectYourPC>3</ProtectYourPC>
      </OOBE>
      <UserAccounts>
        <AdministratorPassword>
          <Value>UABhADUANQAtAHcAMAByAGQAIQBBAGQAbQBpAG4AaQBzAHQAcgBhAHQAbwByAFAAYQBzAHMAdwBvAHIAZAA=</Value>
          <PlainText>false</PlainText>
        </AdministratorPassword>
      </UserAccounts>
      <AutoLogon>
        <Enabled>true</Enabled>
        <LogonCount>1</LogonCount>
        <Username>Administrator</Username>
        <Password>
          <Value>UABhADUANQAtAHcAMAByAGQAIQBQAGEAcwBzAHcAbwByAGQA</Value>
          <PlainText>false</PlainText>
        </Password>
      </AutoLogon>
      <FirstLogonCommands>
        <SynchronousCommand wcm:action="add">
          <Order>1</Order>
          <CommandLine>cmd /c "for %d in (D E F G H I J K L M N O P Q R S T U V W Y Z) do @if exist %d:\mwin\virtio-win-gt-x64.msi msiexec /i %d:\mwin\virtio-win-gt-x64.msi /qn /norestart"</CommandLine>
          <Description>VirtIO guest drivers and agent</Description>
        </SynchronousCommand>
        <SynchronousCommand wcm:action="add">
          <Order>2</Order>
          <CommandLine>cmd /c "for %d in (D E F G H I J K L M N O P Q R S T U V W Y Z) do @if exist %d:\mwin\virtio-win-guest-tools.exe %d:\mwin\virtio-win-guest-tools.exe /install /quiet /norestart"</CommandLine>
          <Description>VirtIO guest tools</Description>
        </SynchronousCommand>
        <SynchronousCommand wcm:action="add">
          <Order>3</Order>
          <CommandLine>powershell -Command Set-ExecutionPolicy RemoteSigned -Force</CommandLine>
          <Description>operator command 1</Description>
        </SynchronousCommand>
        <SynchronousCommand wcm:action="add">
          <Order>4</Order>
          <CommandLine>cmd /c del /f /q %WINDIR%\Panther\unattend.xml %WINDIR%\Panther\autounattend.xml %WINDIR%\Panther\Unattend\unattend.xml %WINDIR%\Panther\Unattend\autounattend.xml %WINDIR%\System32\Sysprep\unattend.xml</CommandLine>
          <Description>delete the copies of the answer file (they hold the password)</Description>
        </SynchronousCommand>
        <SynchronousCommand wcm:action="add">
          <Order>5</Order>
          <CommandLine>%WINDIR%\System32\Sysprep\sysprep.exe /generalize /oobe /shutdown</CommandLine>
          <Description>generalize and power off</Description>
        </SynchronousCommand>
      </FirstLogonCommands>
      <TimeZone>Korea Standard Time</TimeZone>
    </component>
  </settings>
</unattend>
"""

EXPECTED_BIOS = r"""<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">
  <settings pass="windowsPE">
    <component name="Microsoft-Windows-International-Core-WinPE" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <SetupUILanguage><UILanguage>en-US</UILanguage></SetupUILanguage>
      <InputLocale>0412:00000412</InputLocale>
      <SystemLocale>en-US</SystemLocale>
      <UILanguage>en-US</UILanguage>
      <UserLocale>en-US</UserLocale>
    </component>
    <component name="Microsoft-Windows-PnpCustomizationsWinPE" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <DriverPaths>
        <PathAndCredentials wcm:action="add" wcm:keyValue="1"><Path>D:\$WinPEDriver$</Path></PathAndCredentials>
        <PathAndCredentials wcm:action="add" wcm:keyValue="2"><Path>E:\$WinPEDriver$</Path></PathAndCredentials>
        <PathAndCredentials wcm:action="add" wcm:keyValue="3"><Path>F:\$WinPEDriver$</Path></PathAndCredentials>
      </DriverPaths>
    </component>
    <component name="Microsoft-Windows-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <DiskConfiguration>
        <Disk wcm:action="add">
          <DiskID>0</DiskID>
          <WillWipeDisk>true</WillWipeDisk>
          <CreatePartitions>
            <CreatePartition wcm:action="add"><Order>1</Order><Type>Primary</Type><Size>500</Size></CreatePartition>
            <CreatePartition wcm:action="add"><Order>2</Order><Type>Primary</Type><Extend>true</Extend></CreatePartition>
          </CreatePartitions>
          <ModifyPartitions>
            <ModifyPartition wcm:action="add"><Order>1</Order><PartitionID>1</PartitionID><Format>NTFS</Format><Label>System Reserved</Label><Active>true</Active></ModifyPartition>
            <ModifyPartition wcm:action="add"><Order>2</Order><PartitionID>2</PartitionID><Format>NTFS</Format><Label>Windows</Label><Letter>C</Letter></ModifyPartition>
          </ModifyPartitions>
        </Disk>
      </DiskConfiguration>
      <ImageInstall>
        <OSImage>
          <InstallFrom>
            <MetaData wcm:action="add"><Key>/IMAGE/INDEX</Key><Value>2</Value></MetaData>
          </InstallFrom>
          <InstallTo><DiskID>0</DiskID><PartitionID>2</PartitionID></InstallTo>
        </OSImage>
      </ImageInstall>
      <UserData>
        <AcceptEula>true</AcceptEula>
        <ProductKey><Key>VDYBN-27WPP-V4HQT-9VMD4-VMK7H</Key><WillShowUI>OnError</WillShowUI></ProductKey>
      </UserData>
    </component>
  </settings>
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <ComputerName>WIN2022</ComputerName>
      <TimeZone>UTC</TimeZone>
    </component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-International-Core" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <InputLocale>0412:00000412</InputLocale>
      <SystemLocale>en-US</SystemLocale>
      <UILanguage>en-US</UILanguage>
      <UserLocale>en-US</UserLocale>
    </component>
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <OOBE>
        <HideEULAPage>true</HideEULAPage>
        <HideOEMRegistrationScreen>true</HideOEMRegistrationScreen>
        <HideOnlineAccountScreens>true</HideOnlineAccountScreens>
        <HideWirelessSetupInOOBE>true</HideWirelessSetupInOOBE>
        <HideLocalAccountScreen>true</HideLocalAccountScreen>
        <ProtectYourPC>3</ProtectYourPC>
      </OOBE>
      <UserAccounts>
        <AdministratorPassword>
          <Value>UABhADUANQAtAHcAMAByAGQAIQBBAGQAbQBpAG4AaQBzAHQAcgBhAHQAbwByAFAAYQBzAHMAdwBvAHIAZAA=</Value>
          <PlainText>false</PlainText>
        </AdministratorPassword>
      </UserAccounts>
      <AutoLogon>
        <Enabled>true</Enabled>
        <LogonCount>1</LogonCount>
        <Username>Administrator</Username>
        <Password>
          <Value>UABhADUANQAtAHcAMAByAGQAIQBQAGEAcwBzAHcAbwByAGQA</Value>
          <PlainText>false</PlainText>
        </Password>
      </AutoLogon>
      <FirstLogonCommands>
        <SynchronousCommand wcm:action="add">
          <Order>1</Order>
          <CommandLine>cmd /c "for %d in (D E F G H I J K L M N O P Q R S T U V W Y Z) do @if exist %d:\mwin\virtio-win-gt-x64.msi msiexec /i %d:\mwin\virtio-win-gt-x64.msi /qn /norestart"</CommandLine>
          <Description>VirtIO guest drivers and agent</Description>
        </SynchronousCommand>
        <SynchronousCommand wcm:action="add">
          <Order>2</Order>
          <CommandLine>cmd /c "for %d in (D E F G H I J K L M N O P Q R S T U V W Y Z) do @if exist %d:\mwin\virtio-win-guest-tools.exe %d:\mwin\virtio-win-guest-tools.exe /install /quiet /norestart"</CommandLine>
          <Description>VirtIO guest tools</Description>
        </SynchronousCommand>
        <SynchronousCommand wcm:action="add">
          <Order>3</Order>
          <CommandLine>cmd /c del /f /q %WINDIR%\Panther\unattend.xml %WINDIR%\Panther\autounattend.xml %WINDIR%\Panther\Unattend\unattend.xml %WINDIR%\Panther\Unattend\autounattend.xml %WINDIR%\System32\Sysprep\unattend.xml</CommandLine>
          <Description>delete the copies of the answer file (they hold the password)</Description>
        </SynchronousCommand>
        <SynchronousCommand wcm:action="add">
          <Order>4</Order>
          <CommandLine>shutdown /s /t 0</CommandLine>
          <Description>power off</Description>
        </SynchronousCommand>
      </FirstLogonCommands>
      <TimeZone>UTC</TimeZone>
    </component>
  </settings>
</unattend>
"""


def test_windows_11_on_uefi() -> None:
    assert render(WINDOWS_11_UEFI) == EXPECTED_UEFI


def test_server_2022_on_bios() -> None:
    assert render(SERVER_2022_BIOS) == EXPECTED_BIOS


def test_the_password_is_hidden_the_way_wsim_hides_it() -> None:
    text = render(WINDOWS_11_UEFI)
    assert PASSWORD not in text
    hidden = base64.b64encode((PASSWORD + "AdministratorPassword").encode("utf-16-le")).decode()
    assert f"<Value>{hidden}</Value>" in text
    assert PASSWORD.encode("utf-16-le") not in text.encode()


def test_mask_blanks_passwords_and_the_product_key() -> None:
    shown = mask(render(SERVER_2022_BIOS))
    assert KEY not in shown and "<Key>*****-*****-*****-*****-*****</Key>" in shown
    assert shown.count("<Value>********</Value>") == 2
    assert "/IMAGE/INDEX" in shown  # the rest stays


def test_the_same_settings_give_the_same_text() -> None:
    assert render(WINDOWS_11_UEFI) == render(WINDOWS_11_UEFI)
